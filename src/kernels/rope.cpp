#include "kernels/rope.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace aero {
namespace {

// cos and sin of every (position, c) angle for positions [0, n): (n, HS/2) each. Kept per thread
// and grown on demand, since every layer's q and k of every forward pass rotate by the same
// angles (recomputing them cost a tenth of a small model's sampler step).
struct RopeTable {
  int64_t HS = 0, n = 0;
  float theta = 0;
  std::vector<float> cs, sn;
};

const RopeTable& rope_table(int64_t HS, float theta, int64_t end) {
  thread_local RopeTable t;
  if (t.HS != HS || t.theta != theta) t = RopeTable{HS, 0, theta, {}, {}};
  if (t.n >= end) return t;
  const int64_t half = HS / 2, n = std::max(end, 2 * t.n);
  t.cs.resize(size_t(n * half));
  t.sn.resize(size_t(n * half));
  for (int64_t pos = t.n; pos < n; pos++)
    for (int64_t c = 0; c < half; c++) {
      double ang = rope_angle(pos, c, HS, theta);
      t.cs[size_t(pos * half + c)] = float(std::cos(ang));
      t.sn[size_t(pos * half + c)] = float(std::sin(ang));
    }
  t.n = n;
  return t;
}

// out = rotation of inp by +angle (sign 1) or -angle (sign -1); accumulate adds into out.
template <bool kAccumulate>
void rope_apply(float* out, const float* inp, int64_t B, int64_t T, int64_t NH, int64_t HS,
                float theta, int64_t pos_offset, float sign) {
  const RopeTable& table = rope_table(HS, theta, pos_offset + T);
  const int64_t half = HS / 2, C = NH * HS;
#pragma omp parallel for if (B * T * C > 65536 && !omp_in_parallel())
  for (int64_t bt = 0; bt < B * T; bt++) {
    const int64_t t = pos_offset + bt % T;
    const float *c_ = table.cs.data() + t * half, *s_ = table.sn.data() + t * half;
    for (int64_t h = 0; h < NH; h++) {
      const float* x = inp + bt * C + h * HS;
      float* y = out + bt * C + h * HS;
#pragma omp simd
      for (int64_t c = 0; c < half; c++) {
        float x1 = x[c], x2 = x[c + half], s = sign * s_[c];
        float y1 = x1 * c_[c] - x2 * s, y2 = x2 * c_[c] + x1 * s;
        y[c] = kAccumulate ? y[c] + y1 : y1;
        y[c + half] = kAccumulate ? y[c + half] + y2 : y2;
      }
    }
  }
}

}  // namespace

float rope_angle(int64_t pos, int64_t c, int64_t HS, float theta) {
  float inv_freq = 1.0f / std::pow(theta, float(2 * c) / float(HS));
  return float(pos) * inv_freq;
}

void rope_forward(float* out, const float* inp, int64_t B, int64_t T, int64_t NH, int64_t HS,
                  float theta, int64_t pos_offset) {
  rope_apply<false>(out, inp, B, T, NH, HS, theta, pos_offset, 1.0f);
}

void rope_backward(float* dinp, const float* dout, int64_t B, int64_t T, int64_t NH, int64_t HS,
                   float theta, int64_t pos_offset) {
  rope_apply<true>(dinp, dout, B, T, NH, HS, theta, pos_offset, -1.0f);
}

void rope_forward_ref(float* out, const float* inp, int64_t B, int64_t T, int64_t NH, int64_t HS,
                      float theta, int64_t pos_offset) {
  const int64_t half = HS / 2, C = NH * HS;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t h = 0; h < NH; h++)
        for (int64_t c = 0; c < half; c++) {
          double ang = rope_angle(pos_offset + t, c, HS, theta);
          int64_t i1 = (b * T + t) * C + h * HS + c, i2 = i1 + half;
          out[i1] = float(inp[i1] * std::cos(ang) - inp[i2] * std::sin(ang));
          out[i2] = float(inp[i2] * std::cos(ang) + inp[i1] * std::sin(ang));
        }
}

void rope_backward_ref(float* dinp, const float* dout, int64_t B, int64_t T, int64_t NH, int64_t HS,
                       float theta, int64_t pos_offset) {
  const int64_t half = HS / 2, C = NH * HS;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t h = 0; h < NH; h++)
        for (int64_t c = 0; c < half; c++) {
          double ang = rope_angle(pos_offset + t, c, HS, theta);
          int64_t i1 = (b * T + t) * C + h * HS + c, i2 = i1 + half;
          dinp[i1] += float(dout[i1] * std::cos(ang) + dout[i2] * std::sin(ang));
          dinp[i2] += float(dout[i2] * std::cos(ang) - dout[i1] * std::sin(ang));
        }
}

}  // namespace aero
