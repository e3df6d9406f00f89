// Training checkpoints: the directory format of io/checkpoint.h filled from a run (the model's
// parameters, the optimizer, the resolved RunConfig, the TrainState), and read back for resume.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include "io/checkpoint.h"
#include "models/load.h"
#include "nn/params.h"
#include "train/config.h"
#include "train/optimizer.h"

namespace aero {

struct TrainState {
  int64_t step = 0;                    // optimizer steps done
  std::array<uint64_t, 4> tape_rng{};  // dropout seeds (Tape::rng())
  uint64_t data_seed = 0;  // batches of step s come from a sampler seeded with (data_seed, s)
  double best_val_loss = std::numeric_limits<double>::infinity();
  // The best val score when train.best_metric is a score (BLEU, ROUGE: higher is better).
  double best_val_score = -std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  int evals_since_best = 0;  // for early stopping
  double elapsed_s = 0;      // training time over all invocations
  int64_t tokens_seen = 0;

  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j, const std::string& where);
};

// Writes a complete checkpoint of the run at st.step (io/checkpoint.h). With `base` set, only
// the trainable parameters are written and the checkpoint refers to that base checkpoint for
// the frozen rest.
std::string save_checkpoint(const std::string& out_dir, const ParamStore& store,
                            const Optimizer* opt, const RunConfig& cfg, const TrainState& st,
                            int keep_last, bool is_best, const std::string& base = "");

// config.json and state.json of a checkpoint, validated.
RunConfig read_checkpoint_config(const std::string& ckpt_dir);
TrainState read_checkpoint_state(const std::string& ckpt_dir);

// Loads weights and, with opt, the optimizer state, after checking every name, shape and size;
// on any error the store and optimizer are unchanged.
void load_checkpoint(const std::string& ckpt_dir, const RunConfig& cfg, ParamStore& store,
                     Optimizer* opt);

}  // namespace aero
