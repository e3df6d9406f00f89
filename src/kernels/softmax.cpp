#include "kernels/softmax.h"

#include <omp.h>

#include <cmath>

#include "kernels/elementwise.h"

namespace aero {

void softmax_forward(float* out, const float* inp, int64_t N, int64_t C) {
#pragma omp parallel for if (N * C > 16384 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    float mx = row_max(x, C);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; c++) {
      o[c] = fast_exp(x[c] - mx);
      s += o[c];
    }
    float inv = 1.0f / s;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) o[c] *= inv;
  }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
#pragma omp parallel for if (N * C > 32768 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    const float *d = dout + n * C, *y = out + n * C;
    float* dx = dinp + n * C;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < C; c++) dot += d[c] * y[c];
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dx[c] += y[c] * (d[c] - dot);
  }
}

void softmax_forward_ref(float* out, const float* inp, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    double mx = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; c++) mx = std::fmax(mx, double(x[c]));
    for (int64_t c = 0; c < C; c++) s += std::exp(x[c] - mx);
    for (int64_t c = 0; c < C; c++) out[n * C + c] = float(std::exp(x[c] - mx) / s);
  }
}

void softmax_backward_ref(float* dinp, const float* dout, const float* out, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const float *d = dout + n * C, *y = out + n * C;
    double dot = 0;
    for (int64_t c = 0; c < C; c++) dot += double(d[c]) * y[c];
    for (int64_t c = 0; c < C; c++) dinp[n * C + c] += float(y[c] * (d[c] - dot));
  }
}

}  // namespace aero
