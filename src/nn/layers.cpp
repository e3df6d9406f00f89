#include "nn/layers.h"

#include "nn/token_rows.h"

namespace aero {

Linear::Linear(ParamStore& store, const std::string& name, int64_t in, int64_t out, bool bias,
               float std)
    : store_(&store), name_(name), in_(in), out_(out) {
  w_ = &store.declare(name + ".weight", {out, in}, Init::normal, std);
  w_->bf16_ok = true;  // the linear op multiplies a bf16 weight through the bf16 kernels
  if (bias) b_ = &store.declare(name + ".bias", {out}, Init::zeros);
}

Var Linear::weight(Tape& tape) const { return store_->var(tape, *w_); }

Var Linear::forward(Tape& tape, Var x, Var residual) const {
  Var b = b_ ? store_->var(tape, *b_) : Var{};
  // An adapter's output joins the product's own pass as its residual (no add op, no extra
  // output and gradient of the layer's size kept on the tape).
  if (adapter) {
    const Var a = adapter->forward(tape, x);
    residual = residual.defined() ? add(residual, a) : a;
  }
  Var y = linear(x, weight(tape), b, residual);
  return rows ? rows->logits(tape, y, x) : y;
}

Embedding::Embedding(ParamStore& store, const std::string& name, int64_t rows, int64_t dim,
                     float std)
    : store_(&store) {
  w_ = &store.declare(name + ".weight", {rows, dim}, Init::normal, std);
  w_->bf16_ok = true;  // lookups widen bf16 rows; a tied head multiplies as a Linear does
}

Var Embedding::weight(Tape& tape) const { return store_->var(tape, *w_); }
Var Embedding::forward(Tape& tape, const Tensor& ids) const {
  return lookup(tape, weight(tape), ids);
}
Var Embedding::lookup(Tape& tape, Var w, const Tensor& ids) const {
  Var e = embedding(w, ids);
  return rows ? rows->embed(tape, e, ids) : e;
}
Var Embedding::head(Tape& tape, Var x, Var w) const {
  Var y = linear(x, w);
  return rows ? rows->logits(tape, y, x) : y;
}

Norm::Norm(ParamStore& store, const std::string& name, int64_t dim, NormKind kind, float eps)
    : store_(&store), kind_(kind), eps_(eps) {
  w_ = &store.declare(name + ".weight", {dim}, Init::ones);
  if (kind == NormKind::layernorm) b_ = &store.declare(name + ".bias", {dim}, Init::zeros);
}

Var Norm::forward(Tape& tape, Var x) const {
  if (kind_ == NormKind::rmsnorm) return rms_norm(x, store_->var(tape, *w_), eps_);
  return layer_norm(x, store_->var(tape, *w_), store_->var(tape, *b_), eps_);
}

Var residual_linear(Tape& tape, const Linear& proj, Var h, Var x, float dropout) {
  if (dropout > 0 && tape.training) return add(x, aero::dropout(proj.forward(tape, h), dropout));
  return proj.forward(tape, h, x);
}

Attention::Attention(ParamStore& store, const AttentionNames& names, const AttentionConfig& cfg)
    : cfg_(cfg) {
  AERO_CHECK(cfg.n_embd > 0 && cfg.n_head > 0 && cfg.head_size > 0,
             "[attention] n_embd, n_head and head_size must be positive");
  AERO_CHECK(!cfg.rope || cfg.head_size % 2 == 0, "[attention] RoPE needs an even head size, got ",
             cfg.head_size);
  const int64_t C = cfg.n_embd, D = cfg.n_head * cfg.head_size;
  q = Linear(store, names.q, C, D, cfg.bias, cfg.std);
  k = Linear(store, names.k, C, D, cfg.bias, cfg.std);
  v = Linear(store, names.v, C, D, cfg.bias, cfg.std);
  o = Linear(store, names.o, D, C, cfg.bias, cfg.out_std);
}

Var Attention::forward(Tape& tape, Var h, Var x, float resid_dropout, Var kv,
                       const Tensor& key_mask, Var bias) const {
  if (!kv.defined()) kv = h;
  Var qh = q.forward(tape, h), kh = k.forward(tape, kv), vh = v.forward(tape, kv);
  const int n_head = int(cfg_.n_head);
  if (cfg_.rope) {
    qh = rope(qh, n_head, cfg_.rope_theta);
    kh = rope(kh, n_head, cfg_.rope_theta);
  }
  AttentionOpts opts;
  opts.n_head = n_head;
  opts.causal = cfg_.causal;
  opts.scale = cfg_.scale;
  opts.dropout = cfg_.dropout;
  opts.key_mask = key_mask;
  return residual_linear(tape, o, attention(qh, kh, vh, opts, bias), x, resid_dropout);
}

Mlp::Mlp(ParamStore& store, const MlpNames& names, int64_t n_embd, int64_t hidden, ActKind act,
         bool bias, float std, float out_std)
    : act_(act) {
  if (is_gated(act)) gate = Linear(store, names.gate, n_embd, hidden, bias, std);
  up = Linear(store, names.up, n_embd, hidden, bias, std);
  down = Linear(store, names.down, hidden, n_embd, bias, out_std);
}

Var Mlp::forward(Tape& tape, Var h, Var x, float resid_dropout) const {
  Var m;
  switch (act_) {
    case ActKind::swiglu:
      m = swiglu(gate.forward(tape, h), up.forward(tape, h));
      break;
    case ActKind::geglu:
      m = geglu(gate.forward(tape, h), up.forward(tape, h));
      break;
    case ActKind::relu:
      m = relu(up.forward(tape, h));
      break;
    case ActKind::gelu: {
      // Only the down projection reads the activation (the largest value a block keeps): in
      // bf16 it is stored rounded, as that product rounds it (not under an adapter, which
      // reads it in f32, nor with a bf16-stored weight).
      const Var u = up.forward(tape, h);
      const bool bf16 = tape.bf16_products && tape.bf16_storage && !down.adapter &&
                        !down.weight_param().is_bf16();
      m = bf16 ? gelu_tanh_bf16(u) : gelu(u, /*tanh_approx=*/true);
      break;
    }
  }
  return residual_linear(tape, down, m, x, resid_dropout);
}

}  // namespace aero
