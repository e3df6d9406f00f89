#include "kernels/shape.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace aero {

void block_copy(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                int64_t cols) {
#pragma omp parallel for if (rows * cols > 65536 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++)
    std::memcpy(dst + r * ld_dst, src + r * ld_src, sizeof(float) * size_t(cols));
}

void block_add(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
               int64_t cols) {
#pragma omp parallel for if (rows * cols > 65536 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    float* d = dst + r * ld_dst;
    const float* s = src + r * ld_src;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) d[c] += s[c];
  }
}

void block_copy_ref(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                    int64_t cols) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[r * ld_dst + c] = src[r * ld_src + c];
}

void block_add_ref(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                   int64_t cols) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[r * ld_dst + c] += src[r * ld_src + c];
}

void gather_4d(float* out, const float* inp, const int64_t shape[4], const int64_t strides[4],
               bool accumulate) {
  int64_t D0 = shape[0], D1 = shape[1], D2 = shape[2], D3 = shape[3];
  int64_t s2 = strides[2], s3 = strides[3];
  // Tiles of kTile rows; a strided innermost read (a transpose of the last two dims) also
  // goes kTile columns at a time, so the input lines a tile touches stay in L1.
  constexpr int64_t kTile = 32;
  int64_t n_tiles = (D2 + kTile - 1) / kTile, step3 = s3 == 1 ? D3 : kTile;
#pragma omp parallel for collapse(3) if (D0 * D1 * D2 * D3 > 65536 && !omp_in_parallel())
  for (int64_t i0 = 0; i0 < D0; i0++)
    for (int64_t i1 = 0; i1 < D1; i1++)
      for (int64_t t = 0; t < n_tiles; t++) {
        const float* src = inp + i0 * strides[0] + i1 * strides[1];
        float* dst = out + (i0 * D1 + i1) * D2 * D3;
        int64_t a0 = t * kTile, a1 = std::min(a0 + kTile, D2);
        for (int64_t b0 = 0; b0 < D3; b0 += step3) {
          int64_t b1 = std::min(b0 + step3, D3);
          for (int64_t i2 = a0; i2 < a1; i2++) {
            const float* sr = src + i2 * s2;
            float* o = dst + i2 * D3;
            if (accumulate) {
#pragma omp simd
              for (int64_t i3 = b0; i3 < b1; i3++) o[i3] += sr[i3 * s3];
            } else {
#pragma omp simd
              for (int64_t i3 = b0; i3 < b1; i3++) o[i3] = sr[i3 * s3];
            }
          }
        }
      }
}

void gather_4d_ref(float* out, const float* inp, const int64_t shape[4], const int64_t strides[4],
                   bool accumulate) {
  int64_t n = 0;
  for (int64_t i0 = 0; i0 < shape[0]; i0++)
    for (int64_t i1 = 0; i1 < shape[1]; i1++)
      for (int64_t i2 = 0; i2 < shape[2]; i2++)
        for (int64_t i3 = 0; i3 < shape[3]; i3++, n++) {
          float v = inp[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3]];
          out[n] = accumulate ? out[n] + v : v;
        }
}

}  // namespace aero
