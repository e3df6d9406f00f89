// The masked-diffusion sampler (LLaDA's generate()): the answer starts as gen_length mask
// tokens after the prompt and is unmasked over `steps` forward passes, block by block (semi-
// autoregressive), committing in each step the most confident predictions of the current block.
// Committed tokens are never remasked. Beyond the reference: parallel unmasking above a
// confidence threshold (Fast-dLLM) and stopping at the first completed EOS.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"
#include "models/model.h"

namespace aero {

// How a predicted token's confidence is measured (the lowest are left masked).
enum class Remasking : uint8_t {
  low_confidence,  // softmax probability of the chosen token (LLaDA's default)
  random,          // uniform random confidence (LLaDA's "random")
  margin,          // top-1 minus top-2 probability (llama.cpp)
  entropy,         // negative entropy of the distribution (llama.cpp)
};
const EnumNames<Remasking>& remasking_names();

struct DiffusionOpts {
  int gen_length = 64;    // answer tokens (mask tokens at the start)
  int steps = 64;         // forward passes in all, split evenly across blocks
  int block_length = 0;   // semi-autoregressive block; 0: gen_length (one block)
  float temperature = 0;  // Gumbel-max noise in double; 0: greedy
  Remasking remasking = Remasking::low_confidence;
  float cfg_scale = 0;      // > 0: classifier-free guidance (unconditional = prompt masked)
  float threshold = 0;      // > 0: also commit every token of confidence >= threshold (Fast-dLLM)
  bool stop_at_eos = true;  // stop when an EOS has every position before it committed; trim it
  // EOS suppression: the confidence of a position predicted EOS is scaled by this (in (0, 1];
  // a negative entropy is divided by it), so EOS is committed later and answers do not flood
  // with EOS too early. 1: off (the reference).
  float eos_confidence = 1.0f;
  uint64_t seed = 0;

  int blocks() const { return gen_length / (block_length > 0 ? block_length : gen_length); }
  // Errors name the option: gen_length % block_length, steps % blocks, steps >= blocks.
  void validate() const;
};

// LLaDA's get_num_transfer_tokens: `masked` tokens over `steps` steps, the remainder spread
// over the first steps. 10 over 4 -> {3, 3, 2, 2}.
std::vector<int> num_transfer_tokens(int masked, int steps);

// What the sampler asks of a model in one step: logits of the positions `rows` (ascending, the
// masked positions of the current block [lo, hi)) of the sequences `ids` (B, T), every position
// seeing every other. `refresh`: the block's first step (where a prefix cache is rebuilt).
struct DiffusionQuery {
  const std::vector<int32_t>* ids;  // (B, T) row-major
  int B = 1, T = 0, lo = 0, hi = 0;
  const std::vector<int>* rows;
  bool refresh = true;
};
// -> logits (B, rows.size(), V) row-major.
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

// The reference: a model built for training (masked_lm), the whole sequence through its forward
// pass without gradients at every step.
DiffusionLogits model_logits(Model& model);

class InferenceModel;
// The inference engine's forward (no tape, f32 / bf16 / q8 weights), logits computed only for
// the rows asked. prefix_cache (Fast-dLLM): K and V of the positions before the current block
// are computed on the block's first step and reused by its other steps, which run only the
// block and what follows it. An approximation: the prefix no longer sees the later positions
// change within the block. Off: the whole sequence every step, as the reference.
DiffusionLogits engine_logits(std::shared_ptr<const InferenceModel> model, bool prefix_cache);

}  // namespace aero
