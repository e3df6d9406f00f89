// Example data for fine-tuning: CSV pairs tokenized into Examples for the padded batches.
#pragma once
#include <string>
#include <vector>

#include "data/batching.h"
#include "data/readers.h"

namespace aero {

class Tokenizer;

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
