// Train / validation / test split by document, seeded, exact proportions.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/readers.h"

namespace aero {

struct SplitOptions {
  std::array<double, 3> ratios = {8, 1, 1};  // train, val, test; normalised
  uint64_t seed = 1234;
  ReaderOptions reader;
};

struct SplitResult {
  std::array<uint64_t, 3> documents{};
  std::array<std::string, 3> paths;  // DIR/train.EXT, DIR/val.EXT, DIR/test.EXT
};

// Which split each of n documents goes to (0 train, 1 val, 2 test): the counts are
// round(n * ratio) for val and test, the rest train, in a seeded random order.
std::vector<uint8_t> split_assignment(uint64_t n, const std::array<double, 3>& ratios,
                                      uint64_t seed);

// Reads input twice (count, then write), so memory is one byte per document. Text-like inputs
// are written as text (documents separated by a blank line); CSV stays CSV with its header.
SplitResult split_documents(const std::string& input, const std::string& out_dir,
                            const SplitOptions& opt);

// A CSV field quoted when it needs to be (RFC 4180): `a"b` -> `"a""b"`.
std::string csv_quote(std::string_view field);

}  // namespace aero
