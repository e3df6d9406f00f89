// A Hugging Face GPT-2 checkpoint directory (config.json, model.safetensors, vocab.json,
// merges.txt) as an aero GPT: learned positions, LayerNorm, pre-LN, GELU (tanh), biases, tied
// head. Conv1D weights are stored (in, out) and become aero's (out, in); c_attn's Q, K and V
// columns become attn_q, attn_k and attn_v.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "models/gpt.h"

namespace aero {

struct HfGpt2 {
  GptConfig cfg;
  std::vector<std::pair<std::string, Tensor>> weights;  // aero names and layout, f32
  std::string vocab, merges;                            // tokenizer files in the directory
};

HfGpt2 read_hf_gpt2(const std::string& dir);

}  // namespace aero
