// Normalisation over the last dimension: N rows of C channels. Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

// out (N, C) = (inp - mean) * rstd * w + b; w, b (C) may be null (no affine / no bias).
// Writes mean (N) and rstd (N) = 1/sqrt(var + eps) for backward; both may be null.
void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                        const float* b, int64_t N, int64_t C, float eps);
// dinp (N, C), dw (C), db (C) may each be null.
void layer_norm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                         const float* w, const float* mean, const float* rstd, int64_t N,
                         int64_t C);
void layer_norm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* w,
                            const float* b, int64_t N, int64_t C, float eps);
void layer_norm_backward_ref(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                             const float* w, const float* mean, const float* rstd, int64_t N,
                             int64_t C);

// out (N, C) = inp * rstd * w with rstd (N) = 1/sqrt(mean(inp²) + eps); w may be null.
void rms_norm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                      int64_t C, float eps);
void rms_norm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                       const float* rstd, int64_t N, int64_t C);
void rms_norm_forward_ref(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                          int64_t C, float eps);
void rms_norm_backward_ref(float* dinp, float* dw, const float* dout, const float* inp,
                           const float* w, const float* rstd, int64_t N, int64_t C);

}  // namespace aero
