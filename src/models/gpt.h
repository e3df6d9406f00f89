// GPT: a decoder-only transformer with the options of PRODUCT.md (learned or RoPE positions,
// LayerNorm or RMSNorm, pre- or post-LN, GELU / ReLU / SwiGLU, biases, tied head, dropout).
// Parameter names follow GGUF ("blk.0.attn_q.weight") so export is a rename-free copy.
#pragma once
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/config.h"
#include "nn/params.h"

namespace aero {

struct GptConfig {
  int vocab_size = 10000;
  int block_size = 128;  // context length in tokens
  int n_layer = 3;
  int n_head = 4;
  int n_embd = 64;
  int ffn_hidden = 256;            // 0: 4 * n_embd
  std::string pos = "rope";        // learned | rope
  std::string norm = "layernorm";  // layernorm | rmsnorm
  bool pre_ln = true;              // false: post-LN (norm after each residual add)
  std::string act = "gelu";        // gelu | relu | swiglu
  bool bias = false;               // biases in every linear layer
  bool tie_head = false;           // output head shares the token embedding
  float dropout_emb = 0.0f;        // on embeddings
  float dropout_attn = 0.0f;       // on attention weights
  float dropout_resid = 0.0f;      // on each residual branch
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  float init_std = 0.02f;  // normal init of matrices; residual projections scaled by 1/sqrt(2L)

  int ffn() const { return ffn_hidden > 0 ? ffn_hidden : 4 * n_embd; }
  int head_size() const { return n_embd / n_head; }
  void validate() const;
};

const FieldTable<GptConfig>& gpt_config_fields();

// Parameter counts by part, for `aero info`.
struct GptParamReport {
  struct Row {
    std::string part;
    int64_t count;
  };
  std::vector<Row> rows;  // embedding, positions, attention/layer, ffn/layer, head, norms, biases
  int64_t weights = 0;    // everything but norms and biases
  int64_t norms = 0, biases = 0, total = 0;
};

class Gpt {
 public:
  // Declares every parameter in `store` (call store.finalize() afterwards).
  Gpt(const GptConfig& cfg, ParamStore& store);

  // ids (B, T) i32, T <= block_size -> logits (B, T, vocab_size).
  Var forward(Tape& tape, const Tensor& ids);

  const GptConfig& config() const { return cfg_; }
  GptParamReport param_report() const;

 private:
  GptConfig cfg_;
  ParamStore& store_;

  Var norm(Tape& tape, Var x, const std::string& name);
  Var p(Tape& tape, const std::string& name);  // a parameter, or undefined if absent
  Var block(Tape& tape, Var x, int layer);
};

}  // namespace aero
