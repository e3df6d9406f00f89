#include "kernels/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm.h"

namespace aero {

uint16_t f32_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_f32(uint16_t v) {
  uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

size_t QMatrix::bytes() const {
  return f32.size() * 4 + bf16.size() * 2 + q.size() + scale.size() * 4;
}

namespace {

// Quantizes one block of kQ8Block values: returns the scale, writes q.
float quantize_block(const float* x, int8_t* q) {
  float amax = 0;
  for (int i = 0; i < kQ8Block; i++) amax = std::max(amax, std::fabs(x[i]));
  float scale = amax / 127.0f;
  float inv = scale > 0 ? 1.0f / scale : 0.0f;
  for (int i = 0; i < kQ8Block; i++) q[i] = static_cast<int8_t>(std::lrintf(x[i] * inv));
  return scale;
}

}  // namespace

QMatrix quantize(const float* w, int rows, int cols, QFormat format) {
  AERO_CHECK(rows > 0 && cols > 0, "[quantize] empty matrix (", rows, " x ", cols, ")");
  QMatrix m;
  m.format = format;
  m.rows = rows;
  m.cols = cols;
  size_t n = static_cast<size_t>(rows) * cols;
  switch (format) {
    case QFormat::f32:
      m.f32.assign(w, w + n);
      break;
    case QFormat::bf16:
      m.bf16.resize(n);
      for (size_t i = 0; i < n; i++) m.bf16[i] = f32_to_bf16(w[i]);
      break;
    case QFormat::q8:
      AERO_CHECK(cols % kQ8Block == 0, "[quantize] q8 needs a multiple of ", kQ8Block,
                 " inputs, got ", cols);
      m.q.resize(n);
      m.scale.resize(n / kQ8Block);
      for (size_t b = 0; b < n / kQ8Block; b++)
        m.scale[b] = quantize_block(w + b * kQ8Block, m.q.data() + b * kQ8Block);
      break;
  }
  return m;
}

std::vector<float> dequantize(const QMatrix& m) {
  size_t n = static_cast<size_t>(m.rows) * m.cols;
  std::vector<float> out(n);
  switch (m.format) {
    case QFormat::f32:
      out = m.f32;
      break;
    case QFormat::bf16:
      for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32(m.bf16[i]);
      break;
    case QFormat::q8:
      for (size_t i = 0; i < n; i++) out[i] = m.scale[i / kQ8Block] * m.q[i];
      break;
  }
  return out;
}

void qmatmul_ref(const QMatrix& w, const float* x, int n, float* y) {
  const int K = w.cols;
  std::vector<int8_t> xq(K);
  std::vector<float> xs(K / kQ8Block + 1);
  for (int r = 0; r < n; r++) {
    const float* xr = x + static_cast<size_t>(r) * K;
    if (w.format == QFormat::q8)
      for (int b = 0; b < K / kQ8Block; b++)
        xs[b] = quantize_block(xr + b * kQ8Block, xq.data() + b * kQ8Block);
    for (int o = 0; o < w.rows; o++) {
      size_t base = static_cast<size_t>(o) * K;
      double acc = 0;
      switch (w.format) {
        case QFormat::f32:
          for (int k = 0; k < K; k++) acc += static_cast<double>(w.f32[base + k]) * xr[k];
          break;
        case QFormat::bf16:
          for (int k = 0; k < K; k++)
            acc += static_cast<double>(bf16_to_f32(w.bf16[base + k])) * xr[k];
          break;
        case QFormat::q8:
          for (int b = 0; b < K / kQ8Block; b++) {
            int32_t dot = 0;
            for (int i = 0; i < kQ8Block; i++)
              dot += static_cast<int32_t>(w.q[base + b * kQ8Block + i]) * xq[b * kQ8Block + i];
            acc += static_cast<double>(w.scale[base / kQ8Block + b]) * xs[b] * dot;
          }
          break;
      }
      y[static_cast<size_t>(r) * w.rows + o] = static_cast<float>(acc);
    }
  }
}

// Placeholder dispatch until the fast kernels land: f32 through sgemm, others the reference.
void qmatmul(const QMatrix& w, const float* x, int n, float* y) {
  if (w.format == QFormat::f32) {
    sgemm(false, true, n, w.rows, w.cols, 1.0f, x, w.cols, w.f32.data(), w.cols, 0.0f, y, w.rows);
    return;
  }
  qmatmul_ref(w, x, n, y);
}

std::string qmatmul_kernel(QFormat format) {
  return format == QFormat::f32 ? "sgemm" : "reference";
}

}  // namespace aero
