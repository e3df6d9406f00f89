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
  // Seq2seq (data.mode = pairs): the encoder's input; x is then the decoder's input
  // (shift_right of y) and y the labels.
  int64_t src_cols = 0;
  const int32_t* src = nullptr;       // (rows, src_cols) ids; nullptr without an encoder
  const int32_t* src_mask = nullptr;  // (rows, src_cols) 1 = token, 0 = padding
  // Masked-diffusion SFT (data.mode = pairs on a masked_lm model): x = y = prompt, answer, EOS
  // padding; the first prompt_len[r] tokens of row r are never masked.
  const int32_t* prompt_len = nullptr;  // (rows); nullptr otherwise
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
  // Micro-batches in one pass over the data (windows: the shard's tokens in (B, T) windows).
  virtual uint64_t epoch_batches() const = 0;
};

// data.mode = pairs: (input, target) rows of a CSV / JSONL file tokenized with `tokenizer`, each
// ended by its EOS, cut to max_input / max_target (EOS kept), padded to a multiple of `multiple`
// or to buckets, grouped by length; the decoder starts from the pad id (T5's convention).
// With sft (a masked_lm model, LLaDA's supervised fine-tuning) a row is instead the prompt (no
// EOS after it) then the answer and its EOS, padded with EOS to the batch's length, which the
// model's context bounds. With causal (a decoder-only model) a row is the same prompt ++ answer
// ++ EOS read as next-token targets, counted on the answer and its EOS only.
struct PairsOptions {
  std::string tokenizer;
  std::string input_column = "input_text", target_column = "target_text";
  int max_input = 256, max_target = 64;
  int multiple = 8;
  bool sft = false;
  bool causal = false;
};

struct BatchOptions {
  int batch_size = 8;
  int block_size = 0;  // T: the model's context
  bool final_only = false;
  uint64_t seed = 0;
  int grad_accum = 1;
  bool examples = false;          // data.mode = examples: one document per row, padded
  std::vector<int> buckets = {};  // examples: padding boundaries
  bool pairs = false;             // data.mode = pairs (seq2seq)
  PairsOptions pair = {};
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
  bool pairs = false;
  PairsOptions pair = {};
  int mc = 1;  // masked_lm: Monte-Carlo draws of the diffusion bound per batch
};

// Calls fn with each evaluation batch of `shard` for a model of context T.
void for_each_eval_batch(const std::string& shard, int T, const EvalOptions& opt,
                         const std::function<void(const TrainBatch&)>& fn);

// Reads and tokenizes a pairs file (data.mode = pairs); a file where no row has both fields is
// an error. Rows dropped for a missing field are counted in *dropped; *pad_id is the
// tokenizer's pad.
std::vector<Example> read_pair_examples(const std::string& path, const PairsOptions& opt,
                                        uint64_t* dropped = nullptr, int32_t* pad_id = nullptr);

// Padding of example batches: x and y one shorter than block_size + 1, buckets checked.
PaddingOptions example_padding(const std::vector<int>& buckets, int block_size, int32_t pad_id);

}  // namespace aero
