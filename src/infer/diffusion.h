// The masked-diffusion sampler (LLaDA's generate()): the answer starts as gen_length mask
// tokens after the prompt and is unmasked over `steps` forward passes, block by block (semi-
// autoregressive), committing in each step the most confident predictions of the current block.
// Committed tokens are never remasked. Beyond the reference: parallel unmasking above a
// confidence threshold (Fast-dLLM), stopping at the first completed EOS, and batches of prompts of
// different lengths, each row sampled as it would be alone.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "models/diffusion_opts.h"
#include "models/model.h"

namespace aero {

// LLaDA's get_num_transfer_tokens: `masked` tokens over `steps` steps, the remainder spread
// over the first steps. 10 over 4 -> {3, 3, 2, 2}.
std::vector<int> num_transfer_tokens(int masked, int steps);

// One sequence of a sampler step: its tokens (the prompt, then the answer with mask_id where still
// masked), its current block [lo, hi) and the positions whose logits are wanted.
struct DiffusionSeq {
  const std::vector<int32_t>* ids = nullptr;  // (T)
  int lo = 0, hi = 0;
  const std::vector<int>* rows = nullptr;  // ascending, in [lo, hi): the block's masked positions
  bool refresh = true;  // the block's first step (where a prefix cache is rebuilt)
  int slot = 0;         // the same sequence keeps its slot from step to step (its cache)
  DiffusionCache cache = DiffusionCache::none;  // what engine_logits may reuse within the block
};

// What the sampler asks of a model in one step: the logits of the `rows` of every sequence, each
// position seeing every position of its own sequence and nothing of the others. Sequences may
// differ in length (prompts of different lengths) and in their current block.
struct DiffusionQuery {
  std::vector<DiffusionSeq> seqs;
  size_t rows() const;  // rows asked in all
};
// -> logits (q.rows(), V) row-major: each sequence's rows in turn.
using DiffusionLogits = std::function<void(const DiffusionQuery& q, std::vector<float>& logits)>;

// One step of the sampler, for --visual, traces and the schedule tests.
struct DiffusionStep {
  int block = 0, step = 0;             // step within the block
  std::vector<int> committed;          // answer positions committed in this step, ascending
  const std::vector<int32_t>* answer;  // the answer so far (mask_id where still masked)
};

struct DiffusionResult {
  std::vector<int32_t> answer;  // trimmed before the first EOS when it stopped there
  bool eos = false;             // stopped at (or ended with) an EOS
  int forwards = 0;             // model evaluations (a CFG pair counts once)
};

// The sampler over any logits function. vocab: V of the logits. eos_id < 0: no EOS handling.
DiffusionResult diffusion_generate(const DiffusionLogits& logits_fn, int vocab,
                                   const std::vector<int32_t>& prompt, int mask_id, int eos_id,
                                   const DiffusionOpts& opt,
                                   const std::function<void(const DiffusionStep&)>& on_step = {});

// Several prompts (of any lengths) sampled together: one call of the logits function per step for
// every row still running. Each row keeps its own schedule, blocks, Rng (its opts' seed) and EOS
// stop, so its result is the one diffusion_generate gives it alone (the same tokens, as long as
// the logits function answers a row the same within a batch; the engine's does to float
// rounding). opts: one per prompt, or one for all. on_step(i, step) after each step of prompt i.
std::vector<DiffusionResult> diffusion_generate_batch(
    const DiffusionLogits& logits_fn, int vocab, const std::vector<std::vector<int32_t>>& prompts,
    int mask_id, int eos_id, const std::vector<DiffusionOpts>& opts,
    const std::function<void(int, const DiffusionStep&)>& on_step = {});

// The sampler one step at a time over rows that come and go (what diffusion_generate_batch and
// the server's generator run): add() a prompt at any time, step() advances every running row by
// one sampler step in one call of the logits function, take() a finished row's result.
class DiffusionBatch {
 public:
  DiffusionBatch(DiffusionLogits logits_fn, int vocab, int mask_id, int eos_id);
  ~DiffusionBatch();
  // Validates opt (errors name the option) and queues the row for the next step(); its id.
  int add(std::vector<int32_t> prompt, const DiffusionOpts& opt);
  // One step of every running row; on_step(id, step) after each row's commit (it must not add or
  // remove rows). Returns the rows still running.
  int step(const std::function<void(int id, const DiffusionStep&)>& on_step = {});
  int running() const;
  bool finished(int id) const;                       // stopped at EOS or complete
  const std::vector<int32_t>& answer(int id) const;  // so far (mask_id where still masked)
  DiffusionResult take(int id);                      // a finished row's result; the row leaves
  void remove(int id);                               // the row leaves now, finished or not

 private:
  struct Row;
  Row& row(int id) const;
  DiffusionLogits logits_fn_;
  int vocab_, mask_id_, eos_id_;
  int next_id_ = 0;
  std::vector<std::unique_ptr<Row>> rows_;
  std::vector<bool> slot_used_;  // prefix-cache slots of the rows (two with CFG)
  std::vector<float> logits_;
};

// The reference: a model built for training (masked_lm), the whole sequence through its forward
// pass without gradients at every step (sequences of equal length in one batch).
DiffusionLogits model_logits(Model& model);

class InferenceModel;
// The inference engine's forward (no tape, f32 / bf16 / q8 weights), logits computed only for
// the rows asked, with each sequence's cache (Fast-dLLM, DiffusionCache): on the block's first step
// the whole sequence runs and its K and V are kept; its other steps run the block and what follows
// it (prefix) or the block alone (dual) against the kept K and V. An approximation: the kept
// positions no longer see the tokens committed since the block began. none: the whole sequence
// every step, as the reference. The sequences of a query run in one pass (one matrix product per
// weight for all their tokens), each against its own K/V (kept per slot).
DiffusionLogits engine_logits(std::shared_ptr<const InferenceModel> model);

}  // namespace aero
