// add, mul, scale and the activations.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/shape.h"

namespace aero {
namespace {

void check_f32(const char* op, const char* what, const Tensor& t) {
  AERO_CHECK(t.dtype() == DType::f32, "[", op, "] ", what, " must be f32, got ",
             dtype_name(t.dtype()), " ", t.shape().str());
}

// b must equal a's shape or a's trailing dimensions; returns b's element count R.
int64_t broadcast_rows(const char* op, const Tensor& a, const Tensor& b) {
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  bool ok = b.ndim() <= a.ndim() && b.ndim() >= 1;
  for (int i = 1; ok && i <= b.ndim(); i++) ok = a.size(-i) == b.size(-i);
  AERO_CHECK(ok, "[", op, "] shapes ", a.shape().str(), " and ", b.shape().str(),
             " do not broadcast (b must match a's trailing dimensions)");
  return b.numel();
}

using UnaryKernel = void (*)(float*, const float*, int64_t);
using UnaryBackward = void (*)(float*, const float*, const float*, int64_t, bool);

Var unary(Op op, Var x, UnaryKernel forward) {
  const Tensor& xv = x.value();
  check_f32(op_name(op), "x", xv);
  Tensor out = x.tape->alloc(xv.shape());
  forward(out.f32(), xv.f32(), xv.numel());
  return x.tape->record(op, out, {x});
}

void unary_backward(Tape& tape, Node& node, UnaryBackward backward) {
  bool fresh = false;
  Tensor dx = tape.grad_to_write(node.in[0], &fresh);
  if (!dx.defined()) return;
  const Tensor& x = tape.node(node.in[0]).value;
  backward(dx.f32(), node.grad.f32(), x.f32(), x.numel(), fresh);
}

using GatedKernel = void (*)(float*, const float*, const float*, int64_t);
using GatedBackward = void (*)(float*, float*, const float*, const float*, const float*, int64_t);

Var gated(Op op, Var gate, Var up, GatedKernel forward) {
  const Tensor &g = gate.value(), &u = up.value();
  check_f32(op_name(op), "gate", g);
  check_f32(op_name(op), "up", u);
  AERO_CHECK(g.shape() == u.shape(), "[", op_name(op), "] gate ", g.shape().str(), " and up ",
             u.shape().str(), " must have the same shape");
  Tensor out = gate.tape->alloc(g.shape());
  forward(out.f32(), g.f32(), u.f32(), g.numel());
  return gate.tape->record(op, out, {gate, up});
}

void gated_backward(Tape& tape, Node& node, GatedBackward backward) {
  Tensor dg = tape.grad_of(node.in[0]), du = tape.grad_of(node.in[1]);
  const Tensor &g = tape.node(node.in[0]).value, &u = tape.node(node.in[1]).value;
  backward(dg.defined() ? dg.f32() : nullptr, du.defined() ? du.f32() : nullptr, node.grad.f32(),
           g.f32(), u.f32(), g.numel());
}

}  // namespace

Var add(Var a, Var b) {
  const Tensor &av = a.value(), &bv = b.value();
  int64_t R = broadcast_rows("add", av, bv);
  Tensor out = a.tape->alloc(av.shape());
  add_forward(out.f32(), av.f32(), bv.f32(), av.numel(), R);
  return a.tape->record(Op::add, out, {a, b});
}

void backward_add(Tape& tape, Node& node) {
  // A gradient written here first is a copy of dout (the residual stream's usual case): no
  // zero fill and no read of the zeros. The inputs one after the other, so that add(x, x),
  // whose second input finds the first one's copy, accumulates onto it.
  const int64_t N = node.value.numel(), R = tape.node(node.in[1]).value.numel();
  const int64_t cols = node.value.size(-1);
  const float* dout = node.grad.f32();
  for (int k = 0; k < 2; k++) {
    bool fresh = false;
    Tensor d = k == 1 && R != N ? tape.grad_of(node.in[1]) : tape.grad_to_write(node.in[k], &fresh);
    if (!d.defined()) continue;
    if (fresh)
      block_copy(d.f32(), cols, dout, cols, N / cols, cols);
    else
      add_backward(k == 0 ? d.f32() : nullptr, k == 1 ? d.f32() : nullptr, dout, N, R);
  }
}

Var mul(Var a, Var b) {
  const Tensor &av = a.value(), &bv = b.value();
  int64_t R = broadcast_rows("mul", av, bv);
  Tensor out = a.tape->alloc(av.shape());
  mul_forward(out.f32(), av.f32(), bv.f32(), av.numel(), R);
  return a.tape->record(Op::mul, out, {a, b});
}

void backward_mul(Tape& tape, Node& node) {
  Tensor da = tape.grad_of(node.in[0]), db = tape.grad_of(node.in[1]);
  const Tensor &av = tape.node(node.in[0]).value, &bv = tape.node(node.in[1]).value;
  mul_backward(da.defined() ? da.f32() : nullptr, db.defined() ? db.f32() : nullptr,
               node.grad.f32(), av.f32(), bv.f32(), av.numel(), bv.numel());
}

Var scale(Var x, float s) {
  const Tensor& xv = x.value();
  check_f32("scale", "x", xv);
  Tensor out = x.tape->alloc(xv.shape());
  scale_forward(out.f32(), xv.f32(), s, xv.numel());
  Var y = x.tape->record(Op::scale, out, {x});
  x.tape->node(y).f[0] = s;
  return y;
}

void backward_scale(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (dx.defined()) scale_backward(dx.f32(), node.grad.f32(), node.f[0], dx.numel());
}

Var gelu(Var x, bool tanh_approx) {
  return tanh_approx ? unary(Op::gelu_tanh, x, gelu_tanh_forward)
                     : unary(Op::gelu_erf, x, gelu_erf_forward);
}
Var gelu_tanh_bf16(Var x) {
  const Tensor& xv = x.value();
  check_f32("gelu_tanh", "x", xv);
  Tensor out = x.tape->alloc(xv.shape(), DType::bf16);
  gelu_tanh_forward_bf16(out.data<uint16_t>(), xv.f32(), xv.numel());
  return x.tape->record(Op::gelu_tanh, out, {x});  // backward reads x only
}
void backward_gelu_tanh(Tape& tape, Node& node) { unary_backward(tape, node, gelu_tanh_backward); }
void backward_gelu_erf(Tape& tape, Node& node) { unary_backward(tape, node, gelu_erf_backward); }

Var relu(Var x) { return unary(Op::relu, x, relu_forward); }
void backward_relu(Tape& tape, Node& node) { unary_backward(tape, node, relu_backward); }

Var silu(Var x) { return unary(Op::silu, x, silu_forward); }
void backward_silu(Tape& tape, Node& node) { unary_backward(tape, node, silu_backward); }

Var swiglu(Var gate, Var up) { return gated(Op::swiglu, gate, up, swiglu_forward); }
void backward_swiglu(Tape& tape, Node& node) { gated_backward(tape, node, swiglu_backward); }

Var geglu(Var gate, Var up) { return gated(Op::geglu, gate, up, geglu_forward); }
void backward_geglu(Tape& tape, Node& node) { gated_backward(tape, node, geglu_backward); }

}  // namespace aero
