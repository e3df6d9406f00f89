#include "kernels/norm.h"

#include <omp.h>

#include <cmath>

namespace aero {

void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                        const float* b, int64_t N, int64_t C, float eps) {
#pragma omp parallel for if (N * C > 32768 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    // Two passes over a row that sits in L1: the variance never suffers cancellation.
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; c++) s += x[c];
    float m = s / float(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    float r = 1.0f / std::sqrt(v / float(C) + eps);
    if (w && b) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
    } else if (w) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c];
    } else if (b) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = (x[c] - m) * r + b[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = (x[c] - m) * r;
    }
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

void layer_norm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                         const float* w, const float* mean, const float* rstd, int64_t N,
                         int64_t C) {
#pragma omp parallel if (N * C > 32768 && !omp_in_parallel())
  {
    if (dinp) {
      // nowait: the dw / db pass below reads only inputs.
#pragma omp for nowait
      for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float m = mean[n], r = rstd[n];
        // dnorm = dout * w; dinp = r * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
        float sd = 0.0f, sdx = 0.0f;
#pragma omp simd reduction(+ : sd, sdx)
        for (int64_t c = 0; c < C; c++) {
          float dn = w ? d[c] * w[c] : d[c];
          sd += dn;
          sdx += dn * (x[c] - m) * r;
        }
        sd /= float(C);
        sdx /= float(C);
        float* dx = dinp + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
          float dn = w ? d[c] * w[c] : d[c];
          dx[c] += r * (dn - sd - (x[c] - m) * r * sdx);
        }
      }
    }
    if (dw || db) {
      // Columns split across threads: each dw[c], db[c] has one writer, whatever the count.
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
      for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float m = mean[n], r = rstd[n];
        if (dw) {
#pragma omp simd
          for (int64_t c = c0; c < c1; c++) dw[c] += d[c] * (x[c] - m) * r;
        }
        if (db) {
#pragma omp simd
          for (int64_t c = c0; c < c1; c++) db[c] += d[c];
        }
      }
    }
  }
}

void layer_norm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* w,
                            const float* b, int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; c++) m += x[c];
    m /= double(C);
    for (int64_t c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    double r = 1.0 / std::sqrt(v / double(C) + eps);
    for (int64_t c = 0; c < C; c++)
      out[n * C + c] = float((x[c] - m) * r * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
    if (mean) mean[n] = float(m);
    if (rstd) rstd[n] = float(r);
  }
}

void layer_norm_backward_ref(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                             const float* w, const float* mean, const float* rstd, int64_t N,
                             int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const float *x = inp + n * C, *d = dout + n * C;
    double m = mean[n], r = rstd[n], sd = 0, sdx = 0;
    for (int64_t c = 0; c < C; c++) {
      double dn = double(d[c]) * (w ? w[c] : 1.0), xh = (x[c] - m) * r;
      sd += dn;
      sdx += dn * xh;
      if (dw) dw[c] += float(d[c] * xh);
      if (db) db[c] += d[c];
    }
    sd /= double(C);
    sdx /= double(C);
    if (dinp)
      for (int64_t c = 0; c < C; c++) {
        double dn = double(d[c]) * (w ? w[c] : 1.0), xh = (x[c] - m) * r;
        dinp[n * C + c] += float(r * (dn - sd - xh * sdx));
      }
  }
}

void rms_norm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                      int64_t C, float eps) {
#pragma omp parallel for if (N * C > 32768 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / std::sqrt(ss / float(C) + eps);
    if (w) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = x[c] * r * w[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = x[c] * r;
    }
    if (rstd) rstd[n] = r;
  }
}

void rms_norm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                       const float* rstd, int64_t N, int64_t C) {
#pragma omp parallel if (N * C > 32768 && !omp_in_parallel())
  {
    if (dinp) {
#pragma omp for nowait
      for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float r = rstd[n];
        // g = dout * w; dinp = r * g - x * r³ * mean(g * x)
        float sgx = 0.0f;
#pragma omp simd reduction(+ : sgx)
        for (int64_t c = 0; c < C; c++) sgx += (w ? d[c] * w[c] : d[c]) * x[c];
        float k = r * r * r * sgx / float(C);
        float* dx = dinp + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) dx[c] += r * (w ? d[c] * w[c] : d[c]) - x[c] * k;
      }
    }
    if (dw) {
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
      for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C, *d = dout + n * C;
        float r = rstd[n];
#pragma omp simd
        for (int64_t c = c0; c < c1; c++) dw[c] += d[c] * x[c] * r;
      }
    }
  }
}

void rms_norm_forward_ref(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                          int64_t C, float eps) {
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    double ss = 0;
    for (int64_t c = 0; c < C; c++) ss += double(x[c]) * x[c];
    double r = 1.0 / std::sqrt(ss / double(C) + eps);
    for (int64_t c = 0; c < C; c++) out[n * C + c] = float(x[c] * r * (w ? w[c] : 1.0));
    if (rstd) rstd[n] = float(r);
  }
}

void rms_norm_backward_ref(float* dinp, float* dw, const float* dout, const float* inp,
                           const float* w, const float* rstd, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    const float *x = inp + n * C, *d = dout + n * C;
    double r = rstd[n], sgx = 0;
    for (int64_t c = 0; c < C; c++) {
      sgx += double(d[c]) * (w ? w[c] : 1.0) * x[c];
      if (dw) dw[c] += float(double(d[c]) * x[c] * r);
    }
    if (dinp)
      for (int64_t c = 0; c < C; c++)
        dinp[n * C + c] +=
            float(r * d[c] * (w ? w[c] : 1.0) - double(x[c]) * r * r * r * sgx / double(C));
  }
}

}  // namespace aero
