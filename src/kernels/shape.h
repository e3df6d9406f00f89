// Copies behind the shape ops (transpose, concat, slice). Backward variants accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

// dst[r, c] = src[r, c] (or += with block_add) for r < rows, c < cols; ld_* are row strides.
void block_copy(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                int64_t cols);
void block_add(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
               int64_t cols);
void block_copy_ref(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                    int64_t cols);
void block_add_ref(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows,
                   int64_t cols);

// out (contiguous, shape[0..3]) = inp read with strides[0..3] (elements); += when accumulate.
// A transpose is a gather with two strides swapped.
void gather_4d(float* out, const float* inp, const int64_t shape[4], const int64_t strides[4],
               bool accumulate);
void gather_4d_ref(float* out, const float* inp, const int64_t shape[4], const int64_t strides[4],
                   bool accumulate);

}  // namespace aero
