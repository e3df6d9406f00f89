// Internal to quant.cpp / quant_x86.cpp: the per-ISA qmatmul kernels. Each computes the
// output columns [r0, r1) of Y(n, rows) = X(n, cols) · Wᵀ; quant.cpp picks one and splits the
// rows over threads.
#pragma once
#include <cstdint>

#include "kernels/quant.h"

namespace aero::qk {

// X quantized for q8, once per call: q (n, cols) int8, or int8 + 128 as uint8 for the AVX-512
// kernel (vpdpbusd multiplies unsigned by signed); s (n, nb * 8), each block's scale repeated
// 8 times so that one vector load gives the scales of one (256-bit) or two (512-bit) blocks.
struct Q8Acts {
  const uint8_t* q = nullptr;
  const float* s = nullptr;
};

void q8_avx512(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);
void q8_avx_vnni(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);
void q8_avx2(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);

// f32 and bf16 W with f32 X (f32: the small-n gemv).
void f32_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
void f32_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
void bf16_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
void bf16_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);

// Rows of X per pass over a tile of W, so that the slice of X (bytes_per_row each) stays in L2.
inline int x_chunk_rows(int n, int bytes_per_row) {
  int c = (256 << 10) / bytes_per_row / 4 * 4;
  if (c < 4) c = 4;
  return c < n ? c : n;
}

}  // namespace aero::qk
