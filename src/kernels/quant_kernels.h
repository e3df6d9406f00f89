// Internal to quant.cpp / quant_x86.cpp: the per-ISA qmatmul kernels. Each computes the
// output columns [r0, r1) of Y(n, rows) = X(n, cols) · Wᵀ; quant.cpp picks one and splits the
// rows over threads.
#pragma once
#include <cstdint>

#include "kernels/quant.h"

namespace aero::qk {

// Position of input k within a packed q8 row of `cols` inputs (layout in quant.h).
inline int q8_pos(int cols, int k) {
  const int b = k / kQ8Block, t = k % kQ8Block, g = b / kQ8Group, l = b % kQ8Group;
  const int rest = cols / kQ8Block - g * kQ8Group;
  const int G = rest < kQ8Group ? rest : kQ8Group;
  return g * kQ8Group * kQ8Block + (t / 4) * (G * 4) + l * 4 + t % 4;
}

// X quantized for q8 once per call: q (n, cols) int8 packed like W's rows, s (n, nb) the block
// scales, c (n, nb) = -128 · Σ q over each block, which cancels the + 128 stored in W.
struct Q8Acts {
  const int8_t* q = nullptr;
  const float* s = nullptr;
  const int32_t* c = nullptr;
};

void q8_avx512(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);
// Rows [r0, r1) of X (n, K) into the Q8Acts buffers (q, s, c), exactly as the portable code;
// with `plain` each row's int8 in order (block by block), not packed like W's rows.
void q8_quantize_rows_avx512(const float* x, int K, int r0, int r1, int8_t* q, float* s, int32_t* c,
                             bool plain = false);
// AMX (int8 tiles), every output column, for n >= kQ8AmxRows; only where q8_amx_usable(). X
// quantized row by row in order (plain), its rows rounded up to a multiple of kQ8AmxRows.
void q8_amx(const QMatrix& w, const Q8Acts& x, int n, float* y);
bool q8_amx_usable();
void q8_avx_vnni(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);
void q8_avx2(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1);

// f32 and bf16 W with f32 X (f32: the small-n gemv; bf16: X already rounded to bf16).
void f32_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
void f32_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
void bf16_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);
// vdpbf16ps on X already rounded to bf16 (n, cols).
void bf16_avx512_dp(const QMatrix& w, const uint16_t* x, int n, float* y, int r0, int r1);
void bf16_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1);

// Rows of X per pass over a tile of W, so that the slice of X (bytes_per_row each) stays in L2.
inline int x_chunk_rows(int n, int bytes_per_row) {
  int c = (256 << 10) / bytes_per_row / 4 * 4;
  if (c < 4) c = 4;
  return c < n ? c : n;
}

}  // namespace aero::qk
