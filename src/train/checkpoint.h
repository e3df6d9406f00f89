// Checkpoints: a directory out_dir/ckpt-<step>/ holding
//   model.safetensors      the weights (GGUF names, F32), metadata {"format": "aero.gpt"}
//   optimizer.safetensors  moments and step (Optimizer::save)
//   config.json            the resolved RunConfig
//   state.json             step, RNG states, best val loss, elapsed time, tokens seen
// written into out_dir/.tmp-ckpt-<step>/ (every file fsynced), renamed into place, parent
// fsynced. out_dir/latest and out_dir/best name the newest and the best checkpoint (one line,
// replaced atomically). Only the newest keep_last checkpoints and the best one are kept.
#pragma once
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "models/gpt.h"
#include "nn/params.h"
#include "train/config.h"
#include "train/optimizer.h"

namespace aero {

struct TrainState {
  int64_t step = 0;                    // optimizer steps done
  std::array<uint64_t, 4> tape_rng{};  // dropout seeds (Tape::rng())
  uint64_t data_seed = 0;  // batches of step s come from a sampler seeded with (data_seed, s)
  double best_val_loss = std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  int evals_since_best = 0;  // for early stopping
  double elapsed_s = 0;      // training time over all invocations
  int64_t tokens_seen = 0;

  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j, const std::string& where);
};

// "ckpt-<step>", the directory name of a checkpoint.
std::string checkpoint_name(int64_t step);

// Writes a complete checkpoint, moves `latest` (and `best` when is_best) to it, then deletes
// checkpoints beyond keep_last (never the best). Returns its directory.
std::string save_checkpoint(const std::string& out_dir, const ParamStore& store,
                            const Optimizer* opt, const RunConfig& cfg, const TrainState& st,
                            int keep_last, bool is_best);

// Removes leftovers of a save that was killed (out_dir/.tmp-ckpt-*); returns how many.
int clean_partial_checkpoints(const std::string& out_dir);

// A checkpoint directory from a path: a checkpoint itself, or a run directory (its `latest`).
// Empty when `path` is a run directory without checkpoints.
std::string find_checkpoint(const std::string& path);

// config.json and state.json of a checkpoint, validated.
RunConfig read_checkpoint_config(const std::string& ckpt_dir);
TrainState read_checkpoint_state(const std::string& ckpt_dir);

// Loads weights (and, with opt, the optimizer state) after checking every name, shape and
// size; on any error the store and optimizer are unchanged.
void load_checkpoint_weights(const std::string& ckpt_dir, ParamStore& store, Optimizer* opt);

// A trained model ready to run: the checkpoint found from `path` (a checkpoint or a run
// directory), its config, and the model with its weights.
struct LoadedModel {
  std::string dir;
  RunConfig cfg;
  std::unique_ptr<ParamStore> store;  // the model keeps a reference: the address must not move
  std::unique_ptr<Gpt> gpt;
};
LoadedModel load_model(const std::string& path);

}  // namespace aero
