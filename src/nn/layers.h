// The layers every model is made of, each bound to its parameters in a ParamStore: a layer
// declares them when it is built (name, shape, init) and reads them at forward time through the
// Param it holds, so a forward pass never looks a name up and never meets a misspelt one.
// Models (src/models/) are compositions of these; LoRA attaches to Linear's adapter hook.
#pragma once
#include <memory>
#include <string>

#include "autograd/ops.h"
#include "nn/options.h"
#include "nn/params.h"

namespace aero {

class TokenRows;

// What LoRA (or any low-rank adapter) adds to a Linear's output: y = W·x + b + adapter(x).
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // x (..., in) -> (..., out)
  virtual Var forward(Tape& tape, Var x) const = 0;
};

// y = x·Wᵀ + b, W (out, in) as PyTorch and Hugging Face store it.
class Linear {
 public:
  Linear() = default;
  // Declares name.weight (out, in) ~ N(0, std²) and, with bias, name.bias (out) = 0.
  Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias, float std);
  // x (..., in) -> (..., out); `residual` (of the output's shape) is added in the product's own
  // pass.
  Var forward(Tape& tape, Var x, Var residual = {}) const;
  Var weight(Tape& tape) const;  // W as a leaf (a tied head reads the embedding this way)

  const std::string& name() const { return name_; }
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  Param& weight_param() const { return *w_; }
  Param* bias_param() const { return b_; }
  // The adapter hook: set by LoRA, owned by whoever set it; nullptr when none.
  const LinearAdapter* adapter = nullptr;
  // Trainable rows of an output head (nn/token_rows.h); nullptr when none.
  const TokenRows* rows = nullptr;

 private:
  ParamStore* store_ = nullptr;
  Param* w_ = nullptr;
  Param* b_ = nullptr;
  std::string name_;
  int64_t in_ = 0, out_ = 0;
};

// A lookup table (V, C): ids (...) -> (..., C).
class Embedding {
 public:
  Embedding() = default;
  Embedding(ParamStore& store, const std::string& name, int64_t rows, int64_t dim, float std);
  Var forward(Tape& tape, const Tensor& ids) const;
  Var weight(Tape& tape) const;
  // The lookup and a tied head's logits from a leaf `w` of this table (one leaf for both).
  Var lookup(Tape& tape, Var w, const Tensor& ids) const;
  Var head(Tape& tape, Var x, Var w) const;
  Param& weight_param() const { return *w_; }
  // Trainable rows (nn/token_rows.h) of the lookup and of a tied head; nullptr when none.
  const TokenRows* rows = nullptr;

 private:
  ParamStore* store_ = nullptr;
  Param* w_ = nullptr;
};

// LayerNorm (weight and bias) or RMSNorm (weight only: T5's LayerNorm), over the last dim.
class Norm {
 public:
  Norm() = default;
  Norm(ParamStore& store, const std::string& name, int64_t dim, NormKind kind, float eps);
  Var forward(Tape& tape, Var x) const;
  const Param& weight_param() const { return *w_; }

 private:
  ParamStore* store_ = nullptr;
  Param* w_ = nullptr;
  Param* b_ = nullptr;
  NormKind kind_ = NormKind::layernorm;
  float eps_ = 1e-5f;
};

// x + dropout(W·h + b): without dropout on the branch (or outside training) the residual add
// is part of the projection's own pass instead of a pass of its own.
Var residual_linear(Tape& tape, const Linear& proj, Var h, Var x, float dropout);

// Multi-head attention: self (kv = q's input) or cross (kv from another sequence, e.g. an
// encoder), causal or bidirectional, with an optional key padding mask, RoPE on q and k, and an
// optional additive position bias per head (T5).
struct AttentionConfig {
  int64_t n_embd = 0;     // width of the input and output (C)
  int64_t n_head = 1;     // NH
  int64_t head_size = 0;  // HS; NH·HS may differ from C (T5's d_kv)
  bool causal = true;
  bool bias = false;  // biases on q, k, v, o
  bool rope = false;  // rotate q and k (self-attention)
  float rope_theta = 10000.0f;
  float scale = 0.0f;     // 0: 1/sqrt(HS); T5 uses 1
  float dropout = 0.0f;   // on the attention weights
  float std = 0.02f;      // init of q, k, v
  float out_std = 0.02f;  // init of the output projection
};
// Parameter names of the four projections: GPT's "blk.0.attn_q", T5's "...SelfAttention.q".
struct AttentionNames {
  std::string q, k, v, o;
};
class Attention {
 public:
  Attention() = default;
  Attention(ParamStore& store, const AttentionNames& names, const AttentionConfig& cfg);
  // h (B, Tq, C) -> x + attention (B, Tq, C): the output projection adds the residual x (with
  // `resid_dropout` on the branch). kv (B, Tk, C) for cross-attention (undefined: self);
  // key_mask (B, Tk) i32 (undefined tensor: none); bias (NH, Tq, Tk) (undefined: none).
  Var forward(Tape& tape, Var h, Var x, float resid_dropout, Var kv = {},
              const Tensor& key_mask = {}, Var bias = {}) const;

  const AttentionConfig& config() const { return cfg_; }
  Linear q, k, v, o;

 private:
  AttentionConfig cfg_;
};

// The position-wise MLP: down(act(up(h))) or, gated, down(act(gate(h)) * up(h)).
struct MlpNames {
  std::string gate, up, down;  // gate unused without a gated activation
};
class Mlp {
 public:
  Mlp() = default;
  // Declares gate (gated activations only), up and down, in that order.
  Mlp(ParamStore& store, const MlpNames& names, int64_t n_embd, int64_t hidden, ActKind act,
      bool bias, float std, float out_std);
  // h (..., C) -> x + mlp(h), with `resid_dropout` on the branch.
  Var forward(Tape& tape, Var h, Var x, float resid_dropout) const;

  ActKind act() const { return act_; }
  Linear gate, up, down;

 private:
  ActKind act_ = ActKind::gelu;
};

}  // namespace aero
