// Perplexity of an InferenceModel on a token shard, through the engine's forward pass: how the
// quantized formats are compared with f32 (`aero quantize --eval-data`).
#pragma once
#include <cstdint>
#include <string>

#include "data/eval.h"
#include "infer/engine.h"

namespace aero {

// Consecutive windows of block_size + 1 tokens from the start of `shard` (as `aero eval`): every
// position of a window predicts the next token. max_windows 0: the whole shard.
EvalResult shard_perplexity(const InferenceModel& model, const std::string& shard,
                            int max_windows = 0);

}  // namespace aero
