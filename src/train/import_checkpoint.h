// Checkpoints from other tools' formats: `aero import NAME` runs the importer of that name (a
// registry row's, models/model.h) and writes what it read as an aero run directory.
#pragma once
#include <string>

#include "models/model.h"

namespace aero {

struct ImportReport {
  std::string ckpt;       // the checkpoint directory written
  std::string tokenizer;  // the tokenizer data.tokenizer names ("" when the source had none)
  ModelConfig cfg;
  int64_t params = 0;
  int tokenizer_vocab = 0;  // tokens of that tokenizer; rows past it are spare (mT5: 12)
};

// A model directory in format `importer` -> an aero run directory out_dir: out_dir/ckpt-0
// (weights, config, state; `latest` and `best` point at it) and, when the source has tokenizer
// files, copies in out_dir/tokenizer/ that data.tokenizer names by absolute path.
ImportReport import_model(const std::string& importer, const std::string& in_dir,
                          const std::string& out_dir);

}  // namespace aero
