// The training loop for a GPT on token shards: batches of random windows (or of padded
// documents, data.mode = examples), gradient
// accumulation, clipping, a learning-rate schedule, evaluation, checkpoints, metrics and exact
// resume (a run killed and resumed ends with the same weights, bit for bit).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "data/batching.h"
#include "models/gpt.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/data_parallel.h"

namespace aero {

struct EvalResult {
  double loss = 0;
  double ppl = 0;  // exp(loss)
  int64_t tokens = 0;
};

struct EvalOptions {
  int batch_size = 8;
  int batches = 0;      // 0: every consecutive window of the shard (random: must be > 0)
  bool random = false;  // random windows drawn with `seed` (the same every time) instead
  bool final_only = false;
  uint64_t seed = 0;
  // One document per row (data.mode = examples) instead of windows: consecutive documents, or
  // with `random` the first batches of a length-grouped order drawn with `seed`.
  bool examples = false;
  std::vector<int> buckets = {};  // examples: padding boundaries
};

// Mean loss of `model` on a shard, over consecutive windows [kT, kT + T] (or random ones), or
// over its documents (per counted target token). Evaluation mode: no dropout, nothing recorded
// for backward.
EvalResult evaluate_shard(Gpt& model, Tape& tape, const std::string& shard, const EvalOptions& opt);

struct TrainResult {
  int64_t steps = 0;
  double val_loss = 0, test_loss = 0;  // last evaluation; NaN when none ran
  bool early_stopped = false, time_limited = false;
  bool interrupted = false;  // SIGINT / SIGTERM: stopped after a checkpoint
  std::string last_checkpoint;
};

// Batch parts for train.data_parallel = 0: one per thread for models up to 16M parameters,
// whose ops are too short for op-level threading to pay and whose extra gradient buffers are
// small; otherwise 1 (every op threaded). Never more parts than rows.
int auto_data_parallel_parts(int64_t params, int batch_size, int threads);

class Trainer {
 public:
  // Builds the model (initialised from train.seed) and the optimizer, opens the shards and checks
  // that their vocabulary matches the model.
  explicit Trainer(const RunConfig& cfg);
  ~Trainer();

  // Restores model, optimizer, step, RNGs and counters from a checkpoint directory.
  void resume_from(const std::string& ckpt_dir);
  TrainResult run();

  // Called after each evaluation (and the final test) with the run directory.
  std::function<void(const std::string& run_dir)> on_eval;

  const RunConfig& config() const { return cfg_; }
  const TrainState& state() const { return st_; }
  ParamStore& params() { return store_; }

 private:
  RunConfig cfg_;
  ParamStore store_;
  std::unique_ptr<Gpt> model_;
  std::unique_ptr<Optimizer> opt_;
  std::unique_ptr<DataParallel> dp_;  // its tape(0) also evaluates
  Rng dropout_rng_;                   // seeds every part's dropout, step by step
  TrainState st_;
  bool resumed_ = false;
  std::unique_ptr<ExampleLoader> examples_;  // data.mode = examples: the training documents
  PaddingOptions padding_;
};

}  // namespace aero
