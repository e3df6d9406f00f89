#include "kernels/loss.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "kernels/elementwise.h"

namespace aero {

void cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                           const float* coef, int64_t N, int64_t V) {
  double acc = 0;
#pragma omp parallel for reduction(+ : acc) if (N * V > 16384 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    if (coef[n] == 0.0f) {
      lse[n] = 0.0f;
      continue;
    }
    const float* x = logits + n * V;
    float mx = row_max(x, V);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t v = 0; v < V; v++) s += fast_exp(x[v] - mx);
    lse[n] = mx + std::log(s);
    acc += double(coef[n]) * (double(lse[n]) - x[targets[n]]);
  }
  *loss = float(acc);
}

void cross_entropy_backward(float* dlogits, float dloss, const float* logits,
                            const int32_t* targets, const float* coef, const float* lse, int64_t N,
                            int64_t V, bool overwrite) {
#pragma omp parallel for if (N * V > 16384 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    float g = dloss * coef[n];
    float* dx = dlogits + n * V;
    if (g == 0.0f) {
      if (overwrite) std::memset(dx, 0, sizeof(float) * size_t(V));
      continue;
    }
    const float* x = logits + n * V;
    float l = lse[n];
    if (overwrite) {
#pragma omp simd
      for (int64_t v = 0; v < V; v++) dx[v] = g * fast_exp(x[v] - l);
    } else {
#pragma omp simd
      for (int64_t v = 0; v < V; v++) dx[v] += g * fast_exp(x[v] - l);
    }
    dx[targets[n]] -= g;
  }
}

void cross_entropy_forward_ref(float* loss, float* lse, const float* logits, const int32_t* targets,
                               const float* coef, int64_t N, int64_t V) {
  double acc = 0;
  for (int64_t n = 0; n < N; n++) {
    lse[n] = 0.0f;
    if (coef[n] == 0.0f) continue;
    const float* x = logits + n * V;
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < V; v++) mx = std::fmax(mx, double(x[v]));
    for (int64_t v = 0; v < V; v++) s += std::exp(x[v] - mx);
    double l = mx + std::log(s);
    lse[n] = float(l);
    acc += coef[n] * (l - x[targets[n]]);
  }
  *loss = float(acc);
}

void cross_entropy_backward_ref(float* dlogits, float dloss, const float* logits,
                                const int32_t* targets, const float* coef, const float* lse,
                                int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; n++) {
    if (coef[n] == 0.0f) continue;
    for (int64_t v = 0; v < V; v++) {
      double p = std::exp(double(logits[n * V + v]) - lse[n]);
      dlogits[n * V + v] += float(double(dloss) * coef[n] * (p - (v == targets[n] ? 1.0 : 0.0)));
    }
  }
}

}  // namespace aero
