// cross_entropy: fused log-softmax + negative log likelihood.
#include <cstring>

#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/loss.h"

namespace aero {

Var cross_entropy(Var logits, const Tensor& targets, const CrossEntropyOpts& opts) {
  const Tensor& lv = logits.value();
  AERO_CHECK(lv.dtype() == DType::f32, "[cross_entropy] logits must be f32, got ",
             dtype_name(lv.dtype()), " ", lv.shape().str());
  AERO_CHECK(lv.ndim() >= 1 && lv.size(-1) > 0, "[cross_entropy] logits ", lv.shape().str(),
             " must have a non-empty last (vocabulary) dimension");
  AERO_CHECK(targets.dtype() == DType::i32, "[cross_entropy] targets must be i32, got ",
             dtype_name(targets.dtype()), " ", targets.shape().str());
  Shape expect = Shape::of(lv.shape().d.data(), lv.ndim() - 1);
  AERO_CHECK(targets.shape() == expect, "[cross_entropy] targets ", targets.shape().str(),
             " do not match logits ", lv.shape().str(), " (expected ", expect.str(), ")");
  AERO_CHECK(!opts.final_only || lv.ndim() == 3,
             "[cross_entropy] final_only needs logits (B, T, V), got ", lv.shape().str());
  if (opts.weights.defined())
    AERO_CHECK(opts.weights.dtype() == DType::f32 && opts.weights.shape() == targets.shape(),
               "[cross_entropy] weights ", opts.weights.shape().str(), " ",
               dtype_name(opts.weights.dtype()), " must be f32 with the targets' shape ",
               targets.shape().str());
  AERO_CHECK(opts.divisor >= 0.0f, "[cross_entropy] divisor must be >= 0, got ", opts.divisor);

  Tape& tape = *logits.tape;
  int64_t V = lv.size(-1), N = lv.numel() / V;
  int64_t T = opts.final_only ? lv.size(1) : 1;
  const int32_t* y = targets.i32();
  const float* w = opts.weights.defined() ? opts.weights.f32() : nullptr;
  // coef[n] = weight of row n / divisor, 0 where the row does not count.
  Tensor coef = tape.alloc({N});
  float* cf = coef.f32();
  int64_t counted = 0;
  for (int64_t n = 0; n < N; n++) {
    bool counts = (!opts.final_only || n % T == T - 1) && y[n] != opts.ignore_index;
    if (counts)
      AERO_CHECK(y[n] >= 0 && y[n] < V, "[cross_entropy] target ", y[n], " at position ", n,
                 " out of range for logits ", lv.shape().str(), " (ignore_index ",
                 opts.ignore_index, ")");
    cf[n] = counts ? (w ? w[n] : 1.0f) : 0.0f;
    counted += counts;
  }
  float div = opts.divisor > 0.0f ? opts.divisor : float(counted);
  for (int64_t n = 0; n < N; n++) cf[n] = counted ? cf[n] / div : 0.0f;

  Tensor out = tape.alloc(Shape{}), lse = tape.alloc({N});
  cross_entropy_forward(out.f32(), lse.f32(), lv.f32(), y, cf, N, V);
  Var loss = tape.record(Op::cross_entropy, out, {logits});
  Node& node = tape.node(loss);
  if (node.requires_grad) {
    node.saved[0] = lse;
    node.saved[1] = coef;
    // A copy: the caller may refill its batch buffer before backward.
    node.saved[2] = tape.alloc({N}, DType::i32);
    std::memcpy(node.saved[2].i32(), y, sizeof(int32_t) * size_t(N));
  }
  return loss;
}

void backward_cross_entropy(Tape& tape, Node& node) {
  bool overwrite = false;
  Tensor dl = tape.grad_to_write(node.in[0], &overwrite);
  if (!dl.defined()) return;
  const Tensor& logits = tape.node(node.in[0]).value;
  int64_t V = logits.size(-1), N = logits.numel() / V;
  cross_entropy_backward(dl.f32(), node.grad.f32()[0], logits.f32(), node.saved[2].i32(),
                         node.saved[1].f32(), node.saved[0].f32(), N, V, overwrite);
}

}  // namespace aero
