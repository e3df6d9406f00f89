// Checkpoints from other tools' formats.
#pragma once
#include <string>

#include "models/gpt.h"

namespace aero {

struct ImportReport {
  std::string ckpt;       // the checkpoint directory written
  std::string tokenizer;  // the copied tokenizer ("" when the source had none)
  GptConfig cfg;
  int64_t params = 0;
};

// A Hugging Face GPT-2 directory -> an aero run directory out_dir: out_dir/ckpt-0 (weights,
// config, state; `latest` and `best` point at it) and, when the source has vocab.json and
// merges.txt, a copy in out_dir/tokenizer/ that data.tokenizer names by absolute path.
ImportReport import_hf_gpt2(const std::string& in_dir, const std::string& out_dir);

}  // namespace aero
