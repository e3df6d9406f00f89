// Elementwise kernels. "Row broadcast": b has R elements and is applied to every row of a
// (N = rows * R); R == N is the plain elementwise case. Gradients accumulate (+=).
// Every fast kernel has a naive `_ref` twin (double precision, libm) that the tests compare with.
#pragma once
#include <bit>
#include <cstdint>

namespace aero {

// exp(x) without a libm call, so loops around it vectorise. Relative error < 2e-7 for x in
// [-86.5, 88]; below that 0 (exp(-inf) = 0 for masks), above exp(88).
inline float fast_exp(float x) {
  float xc = x < -86.5f ? -86.5f : x;
  xc = xc > 88.0f ? 88.0f : xc;
  // x = n·ln2 + r with |r| <= ln2/2. Adding and removing 1.5·2^23 rounds to nearest; it needs
  // IEEE arithmetic (-ffast-math would fold it away).
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  e = std::bit_cast<float>(std::bit_cast<int32_t>(e) + (static_cast<int32_t>(n) << 23));
  return x < -86.5f ? 0.0f : e;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// erfc(a) for a >= 0 (Abramowitz & Stegun 7.1.26), absolute error < 1e-6 (4.6e-7 measured);
// computed directly, so 1 - erf in the tail keeps its digits. Vectorises.
inline float fast_erfc_pos(float a) {
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  return p * t * fast_exp(-a * a);
}

inline float fast_erf(float x) {
  float y = 1.0f - fast_erfc_pos(x < 0.0f ? -x : x);
  return x < 0.0f ? -y : y;
}

// max of x[0..n) (-inf for n = 0). Sixteen explicit lanes: GCC and Clang both vectorise this,
// while Clang leaves an `omp simd reduction(max)` loop scalar.
inline float row_max(const float* x, int64_t n) {
  float m[16];
  for (int k = 0; k < 16; k++) m[k] = -__builtin_inff();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
#pragma omp simd
    for (int k = 0; k < 16; k++) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  }
  for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
  float r = m[0];
  for (int k = 1; k < 16; k++) r = m[k] > r ? m[k] : r;
  return r;
}

void add_forward(float* out, const float* a, const float* b, int64_t N, int64_t R);
void add_backward(float* da, float* db, const float* dout, int64_t N, int64_t R);
void add_forward_ref(float* out, const float* a, const float* b, int64_t N, int64_t R);
void add_backward_ref(float* da, float* db, const float* dout, int64_t N, int64_t R);

// out = a * b (row broadcast); da += dout * b, db += Σ_rows dout * a. da, db may be null.
void mul_forward(float* out, const float* a, const float* b, int64_t N, int64_t R);
void mul_backward(float* da, float* db, const float* dout, const float* a, const float* b,
                  int64_t N, int64_t R);
void mul_forward_ref(float* out, const float* a, const float* b, int64_t N, int64_t R);
void mul_backward_ref(float* da, float* db, const float* dout, const float* a, const float* b,
                      int64_t N, int64_t R);

// out = s * inp; dinp += s * dout.
void scale_forward(float* out, const float* inp, float s, int64_t N);
void scale_backward(float* dinp, const float* dout, float s, int64_t N);
void scale_forward_ref(float* out, const float* inp, float s, int64_t N);
void scale_backward_ref(float* dinp, const float* dout, float s, int64_t N);

// Activations: out = f(inp); dinp += f'(inp) * dout, or = with overwrite (dinp may then hold
// garbage on entry: a gradient not yet written saves its zero fill and the read of the zeros).
// gelu_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); gelu_erf: 0.5·x·(1 + erf(x/√2)).
void gelu_tanh_forward(float* out, const float* inp, int64_t N);
// The same output rounded to bf16 (nearest even, as round_to_bf16), the same bits as
// gelu_tanh_forward followed by round_to_bf16 without the f32 copy.
void gelu_tanh_forward_bf16(uint16_t* out, const float* inp, int64_t N);
void gelu_tanh_backward(float* dinp, const float* dout, const float* inp, int64_t N,
                        bool overwrite = false);
void gelu_erf_forward(float* out, const float* inp, int64_t N);
void gelu_erf_backward(float* dinp, const float* dout, const float* inp, int64_t N,
                       bool overwrite = false);
void relu_forward(float* out, const float* inp, int64_t N);
void relu_backward(float* dinp, const float* dout, const float* inp, int64_t N,
                   bool overwrite = false);
void silu_forward(float* out, const float* inp, int64_t N);
void silu_backward(float* dinp, const float* dout, const float* inp, int64_t N,
                   bool overwrite = false);
void gelu_tanh_forward_ref(float* out, const float* inp, int64_t N);
void gelu_tanh_backward_ref(float* dinp, const float* dout, const float* inp, int64_t N);
void gelu_erf_forward_ref(float* out, const float* inp, int64_t N);
void gelu_erf_backward_ref(float* dinp, const float* dout, const float* inp, int64_t N);
void relu_forward_ref(float* out, const float* inp, int64_t N);
void relu_backward_ref(float* dinp, const float* dout, const float* inp, int64_t N);
void silu_forward_ref(float* out, const float* inp, int64_t N);
void silu_backward_ref(float* dinp, const float* dout, const float* inp, int64_t N);

// Gated units: out = act(gate) * up with act = silu (swiglu) or gelu_tanh (geglu).
// dgate, dup may be null.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t N);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t N);
void geglu_forward(float* out, const float* gate, const float* up, int64_t N);
void geglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                    int64_t N);
void swiglu_forward_ref(float* out, const float* gate, const float* up, int64_t N);
void swiglu_backward_ref(float* dgate, float* dup, const float* dout, const float* gate,
                         const float* up, int64_t N);
void geglu_forward_ref(float* out, const float* gate, const float* up, int64_t N);
void geglu_backward_ref(float* dgate, float* dup, const float* dout, const float* gate,
                        const float* up, int64_t N);

// Inverted dropout without a mask buffer: element i is kept when hash_uniform(seed, i) >= p
// and scaled by 1/(1-p). Backward regenerates the same mask from (seed, i).
void dropout_forward(float* out, const float* inp, uint64_t seed, float p, int64_t N);
void dropout_backward(float* dinp, const float* dout, uint64_t seed, float p, int64_t N);
void dropout_forward_ref(float* out, const float* inp, uint64_t seed, float p, int64_t N);
void dropout_backward_ref(float* dinp, const float* dout, uint64_t seed, float p, int64_t N);

// The LoRA path's dropout (the lora op), with a cheaper mask: one SplitMix64 draw per two
// elements instead of two per element. Element i = 16·b + k takes the low (k < 8) or high
// (k >= 8) 32 bits of splitmix64(seed + (8·b + k % 8)·γ), γ SplitMix64's increment, and is
// kept when they are >= round(p·2³²); kept elements are scaled by 1/(1-p). The groups of 16
// keep the loop contiguous for SIMD. dropout_fast_backward adds (or, with overwrite, writes).
void dropout_fast_forward(float* out, const float* inp, uint64_t seed, float p, int64_t N);
void dropout_fast_backward(float* dinp, const float* dout, uint64_t seed, float p, int64_t N,
                           bool overwrite = false);
void dropout_fast_forward_ref(float* out, const float* inp, uint64_t seed, float p, int64_t N);

// Full reductions: *out = Σ inp (double accumulation); dinp += g.
void sum_forward(float* out, const float* inp, int64_t N);
void sum_backward(float* dinp, float g, int64_t N);
void sum_forward_ref(float* out, const float* inp, int64_t N);
void sum_backward_ref(float* dinp, float g, int64_t N);

}  // namespace aero
