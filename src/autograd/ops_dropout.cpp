// dropout: the mask is never stored; it is a hash of (seed, element index), regenerated in
// backward, so it is identical whatever the thread count.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"

namespace aero {

Var dropout(Var x, float p) {
  const Tensor& xv = x.value();
  AERO_CHECK(xv.dtype() == DType::f32, "[dropout] x must be f32, got ", dtype_name(xv.dtype()), " ",
             xv.shape().str());
  AERO_CHECK(p >= 0.0f && p < 1.0f, "[dropout] p must be in [0, 1), got ", p, " for x ",
             xv.shape().str());
  Tape& tape = *x.tape;
  if (!tape.training || p == 0.0f) return x;
  uint64_t seed = tape.next_seed();
  Tensor out = tape.alloc(xv.shape());
  dropout_forward(out.f32(), xv.f32(), seed, p, xv.numel());
  Var y = tape.record(Op::dropout, out, {x});
  Node& node = tape.node(y);
  node.f[0] = p;
  node.i[0] = static_cast<int64_t>(seed);
  return y;
}

void backward_dropout(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (dx.defined())
    dropout_backward(dx.f32(), node.grad.f32(), static_cast<uint64_t>(node.i[0]), node.f[0],
                     dx.numel());
}

}  // namespace aero
