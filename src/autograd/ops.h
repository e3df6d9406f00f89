// The differentiable ops: free functions that validate their inputs, run a kernel and record
// a node for backward. Shapes use PyTorch's order; B batch, T time, C channels, V vocabulary,
// NH heads, HS head size. Errors name the op and the shapes: "[linear] x (2, 3) w (4, 5)".
#pragma once
#include <vector>

#include "autograd/tape.h"

namespace aero {

// --- linear algebra ---------------------------------------------------------------------
// table (V, C), ids (...) i32 in [0, V) -> (..., C)
Var embedding(Var table, const Tensor& ids);
// x (..., in), w (out, in), b (out) or undefined -> (..., out); y = x·Wᵀ + b (+ residual, of
// y's shape, when given: a residual connection added in the product's own pass). x may be bf16
// (gelu's bf16 output) when w is f32 and the tape multiplies in bf16.
Var linear(Var x, Var w, Var b = {}, Var residual = {});
// base (..., V) with each column ids[k] replaced by x (..., C) · rows[k] (rows (n, C), ids (n)
// i32, distinct): the logits of trainable token rows over a head whose other rows are frozen.
Var token_logits(Var base, Var x, Var rows, const Tensor& ids);
// The low-rank path of a LoRA Linear in one op: x (..., in), a (r, in), b (out, r) ->
// scale · dropout(x)·Aᵀ·Bᵀ (..., out), the dropout (training only) with its own mask of
// dropout_fast_forward. The same values as linear(scale(linear(x ⊙ mask, a), scale), b), but
// the dropped input is made in scratch memory (again in backward) instead of an (..., in)
// value and gradient kept on the tape.
Var lora(Var x, Var a, Var b, float scale, float p);
// a (..., M, K), b (..., K, N) with equal batch dims, or b 2-D (K, N) shared by the batch.
// With trans_b, b is (..., N, K).
Var matmul(Var a, Var b, bool trans_b = false);

// --- elementwise ------------------------------------------------------------------------
// b has a's shape, or the shape of a's trailing dimensions (broadcast over the leading ones).
Var add(Var a, Var b);
Var mul(Var a, Var b);
Var scale(Var x, float s);
Var gelu(Var x, bool tanh_approx = true);  // records gelu_tanh or gelu_erf
// gelu_tanh with its output stored rounded to bf16, for a value that only bf16 products read
// (they round it the same way): half the memory, the same results.
Var gelu_tanh_bf16(Var x);
Var relu(Var x);
Var silu(Var x);
Var swiglu(Var gate, Var up);  // silu(gate) * up
Var geglu(Var gate, Var up);   // gelu_tanh(gate) * up (T5 / mT5 gated-gelu)

// --- normalisation ----------------------------------------------------------------------
// Over the last dimension C. w, b (C) may be undefined (no affine / no bias).
Var layer_norm(Var x, Var w, Var b, float eps = 1e-5f);
// x * rsqrt(mean(x²) + eps) * w  (T5's LayerNorm: no mean subtraction, no bias)
Var rms_norm(Var x, Var w, float eps = 1e-6f);
Var softmax(Var x);  // over the last dimension

// --- attention --------------------------------------------------------------------------
struct AttentionOpts {
  int n_head = 1;
  bool causal = false;
  float scale = 0.0f;    // 0: 1/sqrt(HS); T5 uses 1
  float dropout = 0.0f;  // on the attention weights, training only
  // Optional key padding mask (B, Tk) i32: 1 = attend, 0 = padding.
  Tensor key_mask;
};
// q (B, Tq, NH*HS), k and v (B, Tk, NH*HS) -> (B, Tq, NH*HS). Heads are contiguous slices of
// the channel dimension, as in Hugging Face's view(B, T, NH, HS). `bias` (NH, Tq, Tk) is added
// to the scores before softmax (T5 relative positions) and receives a gradient; may be undefined.
Var attention(Var q, Var k, Var v, const AttentionOpts& opts, Var bias = {});
// Rotary position embedding on x (B, T, NH*HS), rotating the two halves of each head
// (Hugging Face / GPT-NeoX convention); position of row t is pos_offset + t.
Var rope(Var x, int n_head, float theta = 10000.0f, int64_t pos_offset = 0);
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity in eval.
Var dropout(Var x, float p);

// --- loss -------------------------------------------------------------------------------
struct CrossEntropyOpts {
  int32_t ignore_index = -100;
  // Optional per-position weights (same shape as targets), e.g. 1/t for masked diffusion.
  Tensor weights;
  // Only the last position of each sequence counts (logits (B, T, V)): seed 002's final-token
  // loss, equal to nll_loss(log_softmax(logits[:, -1]), y[:, -1]).
  bool final_only = false;
  // 0: divide by the number of counted positions (mean); otherwise divide by this number.
  float divisor = 0.0f;
};
// logits (..., V), targets (...) i32 -> scalar. Fused log-softmax + negative log likelihood.
Var cross_entropy(Var logits, const Tensor& targets, const CrossEntropyOpts& opts = {});

// --- shape ------------------------------------------------------------------------------
Var reshape(Var x, const Shape& shape);  // a view; one dimension may be -1
Var transpose(Var x, int a, int b);      // materialised contiguous
Var concat(const std::vector<Var>& xs, int dim);
Var slice(Var x, int dim, int64_t start, int64_t len);  // materialised contiguous
Var sum(Var x);                                         // all elements -> scalar
Var mean(Var x);                                        // all elements -> scalar

// --- activation checkpointing -----------------------------------------------------------
// A piece of a model (a transformer block) that can run again: run() records its ops on the
// tape it is given, reading in[0..n) (leaves of that tape) and the parameters it holds.
class Recompute {
 public:
  virtual ~Recompute() = default;
  virtual Var run(Tape& tape, const Var* in, int n) const = 0;
};
// fn.run over `inputs` (1 to 4 values of one tape) without keeping its activations: it runs on
// the tape's recompute tape, only the output is kept, and backward runs it again (with the
// random state it had, so dropout masks and gradients are the very same bits as without
// checkpointing) and backpropagates through it. Outside recording (no-grad), plain fn.run.
Var checkpoint(const Recompute& fn, std::initializer_list<Var> inputs);

}  // namespace aero
