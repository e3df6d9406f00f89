// Softmax over the last dimension: N rows of C. Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

// out (N, C) = exp(inp - max) / Σ exp(inp - max), per row.
void softmax_forward(float* out, const float* inp, int64_t N, int64_t C);
// dinp += out * (dout - Σ_c dout * out), from the forward output.
void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);
void softmax_forward_ref(float* out, const float* inp, int64_t N, int64_t C);
void softmax_backward_ref(float* dinp, const float* dout, const float* out, int64_t N, int64_t C);

}  // namespace aero
