// lora: scale · dropout(x)·Aᵀ·Bᵀ as one op. Only the rank-r middle is kept; the dropped input
// lives in the tape's scratch memory while a product reads it, and is made again from x and the
// seed in backward. Unfused, every adapter kept an (N, in) dropped copy of its input and made an
// (N, in) gradient for it: q, k and v each copied the same input.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"

namespace aero {

Var lora(Var x, Var a, Var b, float scale, float p) {
  const Tensor &xv = x.value(), &av = a.value(), &bv = b.value();
  AERO_CHECK(xv.dtype() == DType::f32 && av.dtype() == DType::f32 && bv.dtype() == DType::f32,
             "[lora] x, a and b must be f32");
  AERO_CHECK(av.ndim() == 2 && bv.ndim() == 2 && xv.ndim() >= 1 && xv.size(-1) == av.size(1) &&
                 bv.size(1) == av.size(0),
             "[lora] x ", xv.shape().str(), ", a ", av.shape().str(), " and b ", bv.shape().str(),
             " do not match (a is (r, in), b is (out, r))");
  AERO_CHECK(xv.contiguous(), "[lora] x must be contiguous, got ", xv.shape().str());
  AERO_CHECK(p >= 0.0f && p < 1.0f, "[lora] dropout must be in [0, 1), got ", p);
  Tape& tape = *x.tape;
  const int64_t IN = av.size(1), R = av.size(0), OUT = bv.size(0), N = xv.numel() / IN;
  const bool drop = tape.training && p > 0.0f;
  const uint64_t seed = drop ? tape.next_seed() : 0;  // as many draws as the dropout op
  const bool bf16 = tape.bf16_products;
  const float* h = xv.f32();
  if (drop) {
    float* hs = tape.scratch(N * IN);
    dropout_fast_forward(hs, xv.f32(), seed, p, N * IN);
    h = hs;
  }
  Tensor mid = tape.alloc({N, R});  // (N, R) scale · h·Aᵀ, kept for dB
  linear_forward(mid.f32(), h, av.f32(), nullptr, N, IN, R, nullptr, bf16);
  scale_forward(mid.f32(), mid.f32(), scale, N * R);
  Shape s = xv.shape();
  s[-1] = OUT;
  Tensor out = tape.alloc(s);
  linear_forward(out.f32(), mid.f32(), bv.f32(), nullptr, N, R, OUT, nullptr, bf16);
  Var y = tape.record(Op::lora, out, {x, a, b});
  Node& node = tape.node(y);
  node.saved[0] = mid;
  node.f[0] = scale;
  node.f[1] = drop ? p : 0.0f;
  node.i[0] = static_cast<int64_t>(seed);
  node.i[1] = bf16;
  return y;
}

void backward_lora(Tape& tape, Node& node) {
  bool fresh_dx = false;
  Tensor dx = tape.grad_to_write(node.in[0], &fresh_dx), da = tape.grad_of(node.in[1]),
         db = tape.grad_of(node.in[2]);
  const Tensor& x = tape.node(node.in[0]).value;
  const Tensor& a = tape.node(node.in[1]).value;
  const Tensor& b = tape.node(node.in[2]).value;
  const Tensor& mid = node.saved[0];
  const int64_t IN = a.size(1), R = a.size(0), OUT = b.size(0), N = x.numel() / IN;
  const float scale = node.f[0], p = node.f[1];
  const uint64_t seed = static_cast<uint64_t>(node.i[0]);
  const bool bf16 = node.i[1] != 0;
  const bool need_mid = da.defined() || dx.defined();
  // dmid (N, R) = scale · dy·B, dB += dyᵀ·mid
  Tensor dmid = need_mid ? tape.alloc({N, R}) : Tensor{};
  linear_backward(need_mid ? dmid.f32() : nullptr, db.defined() ? db.f32() : nullptr, nullptr,
                  node.grad.f32(), mid.f32(), b.f32(), N, R, OUT, /*overwrite_dinp=*/true, bf16);
  if (!need_mid) return;
  scale_forward(dmid.f32(), dmid.f32(), scale, N * R);
  float* hs = p > 0.0f ? tape.scratch(N * IN) : nullptr;
  if (da.defined()) {  // dA += dmidᵀ·h, h made again
    const float* h = x.f32();
    if (hs) {
      dropout_fast_forward(hs, x.f32(), seed, p, N * IN);
      h = hs;
    }
    linear_backward(nullptr, da.f32(), nullptr, dmid.f32(), h, a.f32(), N, IN, R, false, bf16);
  }
  if (!dx.defined()) return;
  if (!hs) {  // dx += dmid·A
    linear_backward(dx.f32(), nullptr, nullptr, dmid.f32(), x.f32(), a.f32(), N, IN, R, fresh_dx,
                    bf16);
    return;
  }
  // dh = dmid·A in the scratch (h is no longer needed), then dx += dh ⊙ mask / (1-p)
  linear_backward(hs, nullptr, nullptr, dmid.f32(), x.f32(), a.f32(), N, IN, R, true, bf16);
  dropout_fast_backward(dx.f32(), hs, seed, p, N * IN, fresh_dx);
}

}  // namespace aero
