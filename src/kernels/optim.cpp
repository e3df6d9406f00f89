#include "kernels/optim.h"

#include <omp.h>

#include "core/parallel.h"

#include <cmath>

// sqrt without errno (the arguments are never negative here), so GCC vectorizes the loops.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno")
#endif

namespace aero {

namespace {
// Below this many elements a thread team costs more than the update.
constexpr int64_t kParallelMin = 1 << 15;

struct AdamConsts {
  float b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, neg_step_size;
};

// Scalars in double, then rounded once to float, as torch does with Python floats.
AdamConsts adam_consts(float lr, float beta1, float beta2, int64_t step) {
  double bc1 = 1.0 - std::pow(double(beta1), double(step));
  double bc2 = 1.0 - std::pow(double(beta2), double(step));
  return {beta1,
          float(1.0 - beta1),
          beta2,
          float(1.0 - beta2),
          float(std::sqrt(bc2)),
          float(-double(lr) / bc1)};
}
}  // namespace

void sgd_step(float* p, const float* g, int64_t n, float lr, float wd) {
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) p[i] += -lr * (g[i] + wd * p[i]);
  });
}

void sgd_step_ref(float* p, const float* g, int64_t n, float lr, float wd) {
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    p[i] = p[i] - lr * d;
  }
}

void sgd_momentum_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum,
                       float wd, bool nesterov) {
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) {
      float d = g[i] + wd * p[i];
      float b = momentum * buf[i] + d;
      buf[i] = b;
      float u = nesterov ? d + momentum * b : b;
      p[i] += -lr * u;
    }
  });
}

void sgd_momentum_step_ref(float* p, const float* g, float* buf, int64_t n, float lr,
                           float momentum, float wd, bool nesterov) {
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    buf[i] = momentum * buf[i] + d;
    if (nesterov)
      d = d + momentum * buf[i];
    else
      d = buf[i];
    p[i] = p[i] - lr * d;
  }
}

void rmsprop_step(float* p, const float* g, float* v, int64_t n, float lr, float alpha, float eps,
                  float wd) {
  float one_minus_alpha = float(1.0 - alpha);
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) {
      float d = g[i] + wd * p[i];
      float s = alpha * v[i] + one_minus_alpha * (d * d);
      v[i] = s;
      p[i] += -lr * (d / (std::sqrt(s) + eps));
    }
  });
}

void rmsprop_step_ref(float* p, const float* g, float* v, int64_t n, float lr, float alpha,
                      float eps, float wd) {
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    v[i] = v[i] * alpha + float(1.0 - alpha) * d * d;
    float avg = std::sqrt(v[i]) + eps;
    p[i] = p[i] - lr * (d / avg);
  }
}

void adam_step(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
               float beta2, float eps, float wd, int64_t step) {
  AdamConsts c = adam_consts(lr, beta1, beta2, step);
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) {
      float d = g[i] + wd * p[i];
      float mi = c.b1 * m[i] + c.one_minus_b1 * d;
      float vi = c.b2 * v[i] + c.one_minus_b2 * (d * d);
      m[i] = mi;
      v[i] = vi;
      p[i] += c.neg_step_size * (mi / (std::sqrt(vi) / c.bc2_sqrt + eps));
    }
  });
}

void adam_step_ref(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                   float beta2, float eps, float wd, int64_t step) {
  double bc1 = 1.0 - std::pow(double(beta1), double(step));
  double bc2 = 1.0 - std::pow(double(beta2), double(step));
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    m[i] = m[i] * beta1 + float(1.0 - beta1) * d;
    v[i] = v[i] * beta2 + float(1.0 - beta2) * d * d;
    float denom = std::sqrt(v[i]) / float(std::sqrt(bc2)) + eps;
    p[i] = p[i] + float(-lr / bc1) * (m[i] / denom);
  }
}

void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float wd, int64_t step) {
  AdamConsts c = adam_consts(lr, beta1, beta2, step);
  float decay = float(1.0 - double(lr) * wd);
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) {
      float d = g[i];
      float mi = c.b1 * m[i] + c.one_minus_b1 * d;
      float vi = c.b2 * v[i] + c.one_minus_b2 * (d * d);
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay + c.neg_step_size * (mi / (std::sqrt(vi) / c.bc2_sqrt + eps));
    }
  });
}

void adamw_step_ref(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float wd, int64_t step) {
  for (int64_t i = 0; i < n; i++) p[i] = p[i] * float(1.0 - double(lr) * wd);
  adam_step_ref(p, g, m, v, n, lr, beta1, beta2, eps, 0.0f, step);
}

double sum_squares(const float* x, int64_t n) {
  double acc = parallel_sum(n, kParallelMin, [&](int64_t b, int64_t e) {
    double part = 0;
#pragma omp simd reduction(+ : part)
    for (int64_t i = b; i < e; i++) part += double(x[i]) * double(x[i]);
    return part;
  });
  return acc;
}

double sum_squares_ref(const float* x, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) acc += double(x[i]) * x[i];
  return acc;
}

void scale_inplace(float* x, int64_t n, float s) {
  parallel_range(n, kParallelMin, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; i++) x[i] *= s;
  });
}

double clip_grad_norm(float* const* grads, const int64_t* sizes, int count, float max_norm) {
  double ss = 0.0;
  for (int t = 0; t < count; t++) ss += sum_squares(grads[t], sizes[t]);
  double norm = std::sqrt(ss);
  double coef = double(max_norm) / (norm + 1e-6);
  if (coef < 1.0)
    for (int t = 0; t < count; t++) scale_inplace(grads[t], sizes[t], float(coef));
  return norm;
}

double clip_grad_norm_ref(float* const* grads, const int64_t* sizes, int count, float max_norm) {
  double ss = 0.0;
  for (int t = 0; t < count; t++) ss += sum_squares_ref(grads[t], sizes[t]);
  double norm = std::sqrt(ss);
  double coef = double(max_norm) / (norm + 1e-6);
  if (coef < 1.0)
    for (int t = 0; t < count; t++)
      for (int64_t i = 0; i < sizes[t]; i++) grads[t][i] = grads[t][i] * float(coef);
  return norm;
}

}  // namespace aero
