// attention, rope.
#include <cmath>
#include <cstring>

#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/attention.h"
#include "kernels/rope.h"

namespace aero {
namespace {

// Kernel arguments of a recorded attention node (inputs q, k, v, bias).
AttentionArgs attention_args(Tape& tape, const Node& node) {
  const Tensor &q = tape.node(node.in[0]).value, &k = tape.node(node.in[1]).value;
  AttentionArgs a;
  a.B = q.size(0);
  a.Tq = q.size(1);
  a.Tk = k.size(1);
  a.NH = node.i[0];
  a.HS = q.size(2) / a.NH;
  a.causal = node.i[1] != 0;
  a.seed = uint64_t(node.i[2]);
  a.scale = node.f[0];
  a.dropout = node.f[1];
  a.key_mask = node.saved[1].defined() ? node.saved[1].i32() : nullptr;
  a.bias = node.in[3] >= 0 ? tape.node(node.in[3]).value.f32() : nullptr;
  a.weights = node.saved[2].defined() ? node.saved[2].f32() : nullptr;
  return a;
}

}  // namespace

Var attention(Var q, Var k, Var v, const AttentionOpts& opts, Var bias) {
  const Tensor &qv = q.value(), &kv = k.value(), &vv = v.value();
  for (const Tensor* t : {&qv, &kv, &vv})
    AERO_CHECK(t->dtype() == DType::f32 && t->contiguous(),
               "[attention] q, k, v must be contiguous f32, got ", dtype_name(t->dtype()), " ",
               t->shape().str());
  AERO_CHECK(qv.ndim() == 3 && kv.ndim() == 3 && kv.shape() == vv.shape() &&
                 qv.size(0) == kv.size(0) && qv.size(2) == kv.size(2),
             "[attention] q ", qv.shape().str(), " k ", kv.shape().str(), " v ", vv.shape().str(),
             " do not match (q (B, Tq, C), k and v (B, Tk, C))");
  const int64_t B = qv.size(0), Tq = qv.size(1), Tk = kv.size(1), C = qv.size(2);
  AERO_CHECK(opts.n_head >= 1 && C > 0 && C % opts.n_head == 0, "[attention] ", C,
             " channels do not split into n_head ", opts.n_head, " heads (q ", qv.shape().str(),
             ")");
  AERO_CHECK(opts.dropout >= 0.0f && opts.dropout < 1.0f,
             "[attention] dropout must be in [0, 1), got ", opts.dropout);
  const Tensor& km = opts.key_mask;
  if (km.defined())
    AERO_CHECK(km.dtype() == DType::i32 && km.ndim() == 2 && km.size(0) == B && km.size(1) == Tk &&
                   km.contiguous(),
               "[attention] key_mask must be (B, Tk) = (", B, ", ", Tk, ") i32, got ",
               dtype_name(km.dtype()), " ", km.shape().str());
  if (bias.defined()) {
    const Tensor& bv = bias.value();
    AERO_CHECK(
        bv.dtype() == DType::f32 && bv.contiguous() && bv.shape() == Shape({opts.n_head, Tq, Tk}),
        "[attention] bias must be (NH, Tq, Tk) = (", opts.n_head, ", ", Tq, ", ", Tk, ") f32, got ",
        dtype_name(bv.dtype()), " ", bv.shape().str());
  }
  Tape& tape = *q.tape;
  AttentionArgs a;
  a.B = B;
  a.Tq = Tq;
  a.Tk = Tk;
  a.NH = opts.n_head;
  a.HS = C / opts.n_head;
  a.causal = opts.causal;
  a.scale = opts.scale != 0.0f ? opts.scale : 1.0f / std::sqrt(float(a.HS));
  a.dropout = tape.training ? opts.dropout : 0.0f;
  a.seed = a.dropout > 0.0f ? tape.next_seed() : 0;
  a.key_mask = km.defined() ? km.i32() : nullptr;
  a.bias = bias.defined() ? bias.value().f32() : nullptr;

  bool needs_grad =
      tape.grad_enabled && (q.requires_grad() || k.requires_grad() || v.requires_grad() ||
                            (bias.defined() && bias.requires_grad()));
  Tensor out = tape.alloc(qv.shape());
  // Saved for backward: the log-sum-exp of each score row, (B, NH, Tq) floats, 48 KiB at B 4,
  // NH 12, T 256, from which backward recomputes the weights with one more gemm per block.
  // The weights themselves (B·NH·Tq·Tk floats: 12 MiB there, 192 MiB at T 1024; 4% faster at
  // T 256) are kept instead only when they take at most twice the memory of q, Tk <= 2·HS
  // (char-small's 64-token heads of 32): there backward skips a product, an exp per weight and
  // a transpose.
  const int64_t ldw = attention_weights_ld(Tk);
  Tensor weights = needs_grad && ldw <= 2 * a.HS ? tape.alloc({B, a.NH, Tq, ldw}) : Tensor();
  a.weights = weights.defined() ? weights.f32() : nullptr;
  Tensor lse = needs_grad && !weights.defined() ? tape.alloc({B, a.NH, Tq}) : Tensor();
  attention_forward(out.f32(), lse.defined() ? lse.f32() : nullptr, qv.f32(), kv.f32(), vv.f32(),
                    a);
  Var y = tape.record(Op::attention, out, {q, k, v, bias});
  Node& n = tape.node(y);
  n.i[0] = a.NH;
  n.i[1] = a.causal;
  n.i[2] = int64_t(a.seed);
  n.f[0] = a.scale;
  n.f[1] = a.dropout;
  if (n.requires_grad) {
    n.saved[0] = lse;
    n.saved[1] = km;
    n.saved[2] = weights;
  }
  return y;
}

void backward_attention(Tape& tape, Node& node) {
  // Gradients of q, k and v seen here first are written, not zero-filled and accumulated. When
  // one of them already holds a gradient (or q, k, v share a node: the second call finds the
  // first one's buffer), the fresh ones are zeroed and all accumulate.
  bool fresh[3] = {false, false, false};
  Tensor g[3];
  bool all_fresh = true;
  for (int k = 0; k < 3; k++) {
    g[k] = tape.grad_to_write(node.in[k], &fresh[k]);
    if (g[k].defined() && !fresh[k]) all_fresh = false;
  }
  if (!all_fresh)
    for (int k = 0; k < 3; k++)
      if (fresh[k]) std::memset(g[k].raw(), 0, g[k].nbytes());
  Tensor db = tape.grad_of(node.in[3]);
  AttentionArgs a = attention_args(tape, node);
  auto ptr = [](const Tensor& t) { return t.defined() ? t.f32() : nullptr; };
  attention_backward(ptr(g[0]), ptr(g[1]), ptr(g[2]), ptr(db), node.grad.f32(), node.value.f32(),
                     ptr(node.saved[0]), tape.node(node.in[0]).value.f32(),
                     tape.node(node.in[1]).value.f32(), tape.node(node.in[2]).value.f32(), a,
                     all_fresh);
}

Var rope(Var x, int n_head, float theta, int64_t pos_offset) {
  const Tensor& xv = x.value();
  AERO_CHECK(xv.dtype() == DType::f32 && xv.contiguous() && xv.ndim() == 3,
             "[rope] x must be contiguous f32 (B, T, NH*HS), got ", dtype_name(xv.dtype()), " ",
             xv.shape().str());
  const int64_t C = xv.size(2);
  AERO_CHECK(n_head >= 1 && C % n_head == 0, "[rope] ", C, " channels do not split into n_head ",
             n_head, " heads (x ", xv.shape().str(), ")");
  AERO_CHECK((C / n_head) % 2 == 0, "[rope] head size ", C / n_head, " must be even (x ",
             xv.shape().str(), ", n_head ", n_head, ")");
  AERO_CHECK(theta > 0.0f, "[rope] theta must be positive, got ", theta);
  AERO_CHECK(pos_offset >= 0, "[rope] pos_offset must be >= 0, got ", pos_offset);
  Tape& tape = *x.tape;
  Tensor out = tape.alloc(xv.shape());
  rope_forward(out.f32(), xv.f32(), xv.size(0), xv.size(1), n_head, C / n_head, theta, pos_offset);
  Var y = tape.record(Op::rope, out, {x});
  Node& n = tape.node(y);
  n.f[0] = theta;
  n.i[0] = n_head;
  n.i[1] = pos_offset;
  return y;
}

void backward_rope(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (!dx.defined()) return;
  const Shape& s = node.value.shape();
  const int64_t NH = node.i[0];
  rope_backward(dx.f32(), node.grad.f32(), s[0], s[1], NH, s[2] / NH, node.f[0], node.i[1]);
}

}  // namespace aero
