// add, mul, scale and the activations.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"

namespace aero {
namespace {

// b must equal a's shape or a's trailing dimensions; returns b's element count R.
int64_t broadcast_rows(const char* op, const Shape& a, const Shape& b) {
  bool ok = b.ndim <= a.ndim && b.ndim >= 1;
  for (int i = 1; ok && i <= b.ndim; i++) ok = a[-i] == b[-i];
  AERO_CHECK(ok, "[", op, "] shapes ", a.str(), " and ", b.str(),
             " do not broadcast (b must match a's trailing dimensions)");
  return b.numel();
}

}  // namespace

Var add(Var a, Var b) {
  const Tensor &av = a.value(), &bv = b.value();
  int64_t R = broadcast_rows("add", av.shape(), bv.shape());
  Tensor out = a.tape->alloc(av.shape());
  add_forward(out.f32(), av.f32(), bv.f32(), av.numel(), R);
  return a.tape->record(Op::add, out, {a, b});
}

void backward_add(Tape& tape, Node& node) {
  Tensor da = tape.grad_of(node.in[0]), db = tape.grad_of(node.in[1]);
  int64_t R = tape.node(node.in[1]).value.numel();
  add_backward(da.defined() ? da.f32() : nullptr, db.defined() ? db.f32() : nullptr,
               node.grad.f32(), node.value.numel(), R);
}

}  // namespace aero
