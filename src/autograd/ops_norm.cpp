// layer_norm, rms_norm, softmax: all over the last dimension C of N = numel / C rows.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/norm.h"
#include "kernels/softmax.h"

namespace aero {
namespace {

void check_input(const char* op, const Tensor& x) {
  AERO_CHECK(x.dtype() == DType::f32, "[", op, "] x must be f32, got ", dtype_name(x.dtype()), " ",
             x.shape().str());
  AERO_CHECK(x.ndim() >= 1 && x.size(-1) > 0, "[", op, "] x must have a non-empty last dim, got ",
             x.shape().str());
}

// An affine parameter, when given, is f32 of shape (C).
const float* check_param(const char* op, const char* what, Var p, const Tensor& x) {
  if (!p.defined()) return nullptr;
  const Tensor& t = p.value();
  AERO_CHECK(t.dtype() == DType::f32 && t.ndim() == 1 && t.size(0) == x.size(-1), "[", op, "] ",
             what, " ", t.shape().str(), " ", dtype_name(t.dtype()), " does not match x ",
             x.shape().str(), " (expected f32 (", x.size(-1), "))");
  return t.f32();
}

const float* value_or_null(Tape& tape, int32_t id) {
  return id < 0 ? nullptr : tape.node(id).value.f32();
}
float* grad_or_null(Tape& tape, int32_t id) {
  Tensor g = tape.grad_of(id);
  return g.defined() ? g.f32() : nullptr;
}

}  // namespace

Var layer_norm(Var x, Var w, Var b, float eps) {
  const Tensor& xv = x.value();
  check_input("layer_norm", xv);
  const float* wp = check_param("layer_norm", "w", w, xv);
  const float* bp = check_param("layer_norm", "b", b, xv);
  Tape& tape = *x.tape;
  int64_t C = xv.size(-1), N = xv.numel() / C;
  Tensor out = tape.alloc(xv.shape());
  Tensor mean = tape.alloc({N}), rstd = tape.alloc({N});
  layer_norm_forward(out.f32(), mean.f32(), rstd.f32(), xv.f32(), wp, bp, N, C, eps);
  Var y = tape.record(Op::layer_norm, out, {x, w, b});
  Node& node = tape.node(y);
  if (node.requires_grad) {
    node.saved[0] = mean;
    node.saved[1] = rstd;
  }
  return y;
}

void backward_layer_norm(Tape& tape, Node& node) {
  const Tensor& x = tape.node(node.in[0]).value;
  int64_t C = x.size(-1), N = x.numel() / C;
  layer_norm_backward(grad_or_null(tape, node.in[0]), grad_or_null(tape, node.in[1]),
                      grad_or_null(tape, node.in[2]), node.grad.f32(), x.f32(),
                      value_or_null(tape, node.in[1]), node.saved[0].f32(), node.saved[1].f32(), N,
                      C);
}

Var rms_norm(Var x, Var w, float eps) {
  const Tensor& xv = x.value();
  check_input("rms_norm", xv);
  const float* wp = check_param("rms_norm", "w", w, xv);
  Tape& tape = *x.tape;
  int64_t C = xv.size(-1), N = xv.numel() / C;
  Tensor out = tape.alloc(xv.shape()), rstd = tape.alloc({N});
  rms_norm_forward(out.f32(), rstd.f32(), xv.f32(), wp, N, C, eps);
  Var y = tape.record(Op::rms_norm, out, {x, w});
  if (tape.node(y).requires_grad) tape.node(y).saved[0] = rstd;
  return y;
}

void backward_rms_norm(Tape& tape, Node& node) {
  const Tensor& x = tape.node(node.in[0]).value;
  int64_t C = x.size(-1), N = x.numel() / C;
  rms_norm_backward(grad_or_null(tape, node.in[0]), grad_or_null(tape, node.in[1]), node.grad.f32(),
                    x.f32(), value_or_null(tape, node.in[1]), node.saved[0].f32(), N, C);
}

Var softmax(Var x) {
  const Tensor& xv = x.value();
  check_input("softmax", xv);
  int64_t C = xv.size(-1), N = xv.numel() / C;
  Tensor out = x.tape->alloc(xv.shape());
  softmax_forward(out.f32(), xv.f32(), N, C);
  return x.tape->record(Op::softmax, out, {x});
}

void backward_softmax(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (!dx.defined()) return;
  int64_t C = node.value.size(-1), N = node.value.numel() / C;
  softmax_backward(dx.f32(), node.grad.f32(), node.value.f32(), N, C);
}

}  // namespace aero
