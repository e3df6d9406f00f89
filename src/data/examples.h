// Example data for fine-tuning: CSV pairs tokenized into Examples for the padded batches.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/batching.h"
#include "data/readers.h"

namespace aero {

class EncodeCache;
class Tokenizer;

// One side of a seq2seq pair as Hugging Face's T5 tokenizer gives it with truncation: the ids
// cut to max - 1, then the EOS id (cut to max when the tokenizer has no EOS).
std::vector<int32_t> encode_with_eos(const Tokenizer& tok, std::string_view text, int max,
                                     EncodeCache* cache = nullptr);

struct ExampleSet {
  std::vector<Example> examples;
  ReadStats stats;  // stats.missing_field: rows dropped
};

// Reads a CSV of (input, target) columns and tokenizes both; the end-of-text id closes each
// side when append_eos is set (T5 style).
ExampleSet read_examples(const std::string& csv_path, const Tokenizer& tok,
                         const std::vector<std::string>& columns = {"input_text", "target_text"},
                         bool append_eos = true);

}  // namespace aero
