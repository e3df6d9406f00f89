// Where the trainer's batches come from, whatever data.mode: a TrainBatch is (rows, cols) inputs
// and targets with the counts the loss is normalised by. The batches of a step are a function
// of (seed, step) alone, so a resumed run draws exactly the batches the uninterrupted run would.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/batching.h"
#include "data/eval.h"
#include "train/config.h"

namespace aero {

struct TrainBatch {
  int64_t rows = 0, cols = 0;
  const int32_t* x = nullptr;  // (rows, cols) input ids
  const int32_t* y = nullptr;  // (rows, cols) targets; kIgnoreIndex where nothing counts
  bool final_only = false;     // only each row's last position counts (y is not marked)
  int64_t targets = 0;         // counted target positions
  int64_t tokens = 0;          // real (non-pad) input tokens
  // Randomness of objectives that draw per batch (diffusion masks): a function of (data seed,
  // step, micro) or of the eval batch's index, so a resumed run draws the same masks. Rows are
  // drawn by their index in the whole batch (row0 + r), whatever the data-parallel split.
  uint64_t seed = 0;
  int64_t row0 = 0, batch_rows = 0;  // first row of this slice; rows of the whole batch

  int64_t all_rows() const { return batch_rows > 0 ? batch_rows : rows; }

  // Rows [b, e) as a batch of their own (views into the same memory; counts not split).
  TrainBatch rows_slice(int64_t b, int64_t e) const;
};

// The micro-batches of training steps.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Micro-batch `micro` of step `step`; valid until the next call.
  virtual const TrainBatch& get(int64_t step, int micro) = 0;
};

struct BatchOptions {
  int batch_size = 8;
  int block_size = 0;  // T: the model's context
  bool final_only = false;
  uint64_t seed = 0;
  int grad_accum = 1;
  bool examples = false;          // data.mode = examples: one document per row, padded
  std::vector<int> buckets = {};  // examples: padding boundaries
};

// Random windows (data.mode = windows) or epochs of length-grouped documents (examples).
std::unique_ptr<BatchSource> open_train_batches(const std::string& shard, const BatchOptions& opt);

struct EvalOptions {
  int batch_size = 8;
  int batches = 0;      // 0: every consecutive window (or document) of the shard
  bool random = false;  // random windows (or a length-grouped order) drawn with `seed` instead
  bool final_only = false;
  uint64_t seed = 0;
  bool examples = false;
  std::vector<int> buckets = {};
  int mc = 1;  // masked_lm: Monte-Carlo draws of the diffusion bound per batch
};

// Calls fn with each evaluation batch of `shard` for a model of context T.
void for_each_eval_batch(const std::string& shard, int T, const EvalOptions& opt,
                         const std::function<void(const TrainBatch&)>& fn);

// Padding of example batches: x and y one shorter than block_size + 1, buckets checked.
PaddingOptions example_padding(const std::vector<int>& buckets, int block_size, int32_t pad_id);

}  // namespace aero
