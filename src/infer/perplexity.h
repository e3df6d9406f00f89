// Perplexity of an InferenceModel on a token shard, through the engine's forward pass: how the
// quantized formats are compared with f32 (`aero quantize --eval-data`).
#pragma once
#include <cstdint>
#include <string>

#include "infer/engine.h"

namespace aero {

struct PerplexityResult {
  double loss = 0;  // mean cross-entropy in nats
  double ppl = 0;   // exp(loss)
  int64_t tokens = 0;
};

// Consecutive windows of block_size + 1 tokens from the start of `shard` (as `aero eval`): every
// position of a window predicts the next token. max_windows 0: the whole shard.
PerplexityResult shard_perplexity(const InferenceModel& model, const std::string& shard,
                                  int max_windows = 0);

}  // namespace aero
