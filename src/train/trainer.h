// The training loop, for any architecture: batches from token shards (random windows, or
// padded documents with data.mode = examples), an objective that turns a batch into a loss,
// gradient accumulation, clipping, a learning-rate schedule, evaluation, checkpoints, metrics
// and exact resume (a run killed and resumed ends with the same weights, bit for bit).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "models/load.h"
#include "models/model.h"
#include "train/batches.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/data_parallel.h"
#include "train/dist.h"
#include "train/grad_sync.h"
#include "train/objective.h"

namespace aero {

// data.mode = pairs options from the data section.
PairsOptions pair_options(const DataConfig& d);

// Mean loss of `model` (configured by `cfg`) on a shard, over consecutive windows (or random
// ones), or over its documents (per counted target token). Evaluation mode: no dropout, nothing
// recorded for backward.
EvalResult evaluate_shard(Model& model, const ModelConfig& cfg, Tape& tape,
                          const std::string& shard, const EvalOptions& opt);

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
  // Scores beyond the loss, computed on rank 0 after each evaluation (aero train sets BLEU and
  // ROUGE of greedy answers to train.eval_generate validation rows of a seq2seq model): written
  // to the metrics as val_<name>; train.best_metric may name one.
  std::function<std::map<std::string, double>()> val_scores;

  const RunConfig& config() const { return cfg_; }
  const TrainState& state() const { return st_; }
  ParamStore& params() { return store_; }
  Model& model() { return *model_; }
  const LoraAttachment* lora() const { return lora_.get(); }
  const TokenRowsAttachment* token_rows() const { return rows_.get(); }

 private:
  struct Loop;  // the state of one run() (trainer.cpp)
  // One optimizer step: the micro-batches' forward and backward, clipping, the update.
  // Returns the step's loss and adds its tokens to `tokens`.
  double train_step(float lr, int64_t& tokens, double& grad_norm);
  EvalResult evaluate(const std::string& shard, const EvalOptions& opt);
  // Over processes: rank 0's evaluation to every rank (they take the same stop decisions), and
  // a check that every rank starts from the same step and weights.
  void share_eval(EvalResult& ev, double& score);
  void check_ranks_agree();

  RunConfig cfg_;
  ParamStore store_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<LoraAttachment> lora_;  // adapters (lora.r > 0); the rest of the model frozen
  std::unique_ptr<TokenRowsAttachment> rows_;  // lora.trainable_tokens; copied into their tables
  std::string base_;  // train.init_from's checkpoint, named by adapter-only checkpoints
  std::unique_ptr<Objective> objective_;
  std::unique_ptr<Optimizer> opt_;
  std::unique_ptr<DataParallel> dp_;  // its tape(0) also evaluates
  // Ranks over processes (mpirun): this rank trains parts [rank * P, rank * P + P) of the
  // size * P parts of every batch; rank 0 alone evaluates, writes and prints.
  ProcessGroup& group_;
  std::unique_ptr<GradSync> sync_;  // when size() > 1
  std::unique_ptr<BatchSource> batches_;
  Rng dropout_rng_;  // seeds every part's dropout, step by step
  TrainState st_;
  bool resumed_ = false;
};

}  // namespace aero
