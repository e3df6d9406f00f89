#include "kernels/quant.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/cpu.h"
#include "core/error.h"
#include "core/log.h"
#include "core/parallel.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/quant_kernels.h"

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

void keep_transposed(QMatrix& m) {
  if (m.format != QFormat::f32) return;
  const float* w = m.f32_data();
  m.f32t.resize(static_cast<size_t>(m.rows) * m.cols);
  for (int r = 0; r < m.rows; r++)
    for (int c = 0; c < m.cols; c++)
      m.f32t[static_cast<size_t>(c) * m.rows + r] = w[static_cast<size_t>(r) * m.cols + c];
}

size_t QMatrix::bytes() const {
  const size_t viewed = view ? static_cast<size_t>(rows) * cols * 4 : 0;
  return viewed + f32.size() * 4 + bf16.size() * 2 + q.size() + scale.size() * 4;
}

namespace {

// Quantizes one block of kQ8Block values: returns the scale, writes q.
float quantize_block(const float* x, int8_t* q) {
  float amax = 0;
  for (int i = 0; i < kQ8Block; i++) amax = std::max(amax, std::fabs(x[i]));
  float scale = amax / 127.0f;
  float inv = scale > 0 ? 1.0f / scale : 0.0f;
  // nearbyint rounds half to even like lrintf (default rounding mode) but vectorizes.
  for (int i = 0; i < kQ8Block; i++) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * inv));
  return scale;
}

// Writes block b of a packed q8 row (layout in quant.h): its inputs 4·v + t go to
// 4·(G·v + l) + t of its group, G the group's block count, l = b's place in it.
template <typename T>
void pack_block(T* row, int cols, int b, const T* q) {
  const int nb = cols / kQ8Block, g0 = b / kQ8Group * kQ8Group, l = b - g0;
  const int G = std::min(kQ8Group, nb - g0);
  T* dst = row + static_cast<size_t>(g0) * kQ8Block + l * 4;
  for (int v = 0; v < kQ8Block / 4; v++)
    for (int t = 0; t < 4; t++) dst[v * G * 4 + t] = q[v * 4 + t];
}

// The int8 weight at row-major position i = row · cols + k, from the packed storage.
int q8_value(const QMatrix& m, size_t i) {
  const size_t row = i / m.cols * m.cols;
  return static_cast<int>(m.q[row + qk::q8_pos(m.cols, static_cast<int>(i - row))]) - 128;
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
      parallel_range(rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
          const size_t row = static_cast<size_t>(r) * cols;
          for (int b = 0; b < cols / kQ8Block; b++) {
            int8_t q[kQ8Block];
            uint8_t u[kQ8Block];
            m.scale[row / kQ8Block + b] = quantize_block(w + row + b * kQ8Block, q);
            for (int t = 0; t < kQ8Block; t++) u[t] = static_cast<uint8_t>(q[t] + 128);
            pack_block(m.q.data() + row, cols, b, u);
          }
        }
      });
      break;
  }
  return m;
}

QMatrix f32_view(const float* w, int rows, int cols) {
  AERO_CHECK(rows > 0 && cols > 0, "[quantize] empty matrix (", rows, " x ", cols, ")");
  QMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.view = w;
  return m;
}

std::vector<float> dequantize(const QMatrix& m) {
  size_t n = static_cast<size_t>(m.rows) * m.cols;
  std::vector<float> out(n);
  switch (m.format) {
    case QFormat::f32:
      out.assign(m.f32_data(), m.f32_data() + n);
      break;
    case QFormat::bf16:
      for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32(m.bf16[i]);
      break;
    case QFormat::q8:
      for (size_t i = 0; i < n; i++) out[i] = m.scale[i / kQ8Block] * q8_value(m, i);
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
          for (int k = 0; k < K; k++) acc += static_cast<double>(w.f32_data()[base + k]) * xr[k];
          break;
        case QFormat::bf16:
          for (int k = 0; k < K; k++)
            acc += static_cast<double>(bf16_to_f32(w.bf16[base + k])) *
                   bf16_to_f32(f32_to_bf16(xr[k]));
          break;
        case QFormat::q8:
          for (int b = 0; b < K / kQ8Block; b++) {
            int32_t dot = 0;
            for (int i = 0; i < kQ8Block; i++)
              dot += q8_value(w, base + b * kQ8Block + i) * xq[b * kQ8Block + i];
            acc += static_cast<double>(w.scale[base / kQ8Block + b]) * xs[b] * dot;
          }
          break;
      }
      y[static_cast<size_t>(r) * w.rows + o] = static_cast<float>(acc);
    }
  }
}

namespace {

QKernel env_kernel() {
  const char* env = std::getenv("AERO_QKERNEL");
  const std::string v = env ? env : "";
  if (v.empty() || v == "best") return QKernel::best;
  if (v == "portable") return QKernel::portable;
  if (v == "avx2") return QKernel::avx2;
  if (v == "avx-vnni") return QKernel::avx_vnni;
  if (v == "avx512") return QKernel::avx512;
  if (v == "amx") return QKernel::amx;
  log_warn("[qmatmul] AERO_QKERNEL=", v, " not understood (portable, avx2, avx-vnni, avx512, amx)");
  return QKernel::best;
}

std::atomic<QKernel>& forced_kernel() {
  static std::atomic<QKernel> k{env_kernel()};
  return k;
}

// The widest family at or below the forced one that this CPU runs for `format`.
QKernel pick(QFormat format) {
  const CpuInfo& c = cpu_info();
  const QKernel want = forced_kernel().load(std::memory_order_relaxed);
  const bool avx2 = c.avx2 && c.fma;
  const bool avx512 = c.avx512f && c.avx512bw && c.avx512vl;
  if (format == QFormat::q8) {
    if (want >= QKernel::amx && avx512 && c.avx512_vnni && qk::q8_amx_usable()) return QKernel::amx;
    if (want >= QKernel::avx512 && avx512 && c.avx512_vnni) return QKernel::avx512;
    if (want >= QKernel::avx_vnni && avx2 && c.avx_vnni) return QKernel::avx_vnni;
  } else if (want >= QKernel::avx512 && avx512) {
    return QKernel::avx512;
  }
  if (want >= QKernel::avx2 && avx2) return QKernel::avx2;
  return QKernel::portable;
}

// A growable buffer on a 64-byte boundary: the q8 kernels load X's rows 64 bytes at a time
// (30% faster than from a 16-byte boundary, where every load straddles two cache lines).
template <typename T>
class AlignedBuffer {
 public:
  ~AlignedBuffer() { std::free(data_); }
  T* get(size_t n) {
    if (n > size_) {
      std::free(data_);
      data_ = static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64));
      AERO_CHECK(data_, "[qmatmul] out of memory (", n * sizeof(T), " bytes)");
      size_ = n;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// X quantized per row and block exactly as qmatmul_ref does: packed like W's rows, or with
// `plain` row by row in order (the AMX kernel's tiles), the rows then rounded up to a multiple of
// kQ8AmxRows with zeros (read by its last tile, never stored). Buffers are reused across calls of
// the same thread.
qk::Q8Acts quantize_acts(const float* x, int n, int K, bool avx512, bool plain = false) {
  thread_local AlignedBuffer<int8_t> q;
  thread_local AlignedBuffer<float> s;
  thread_local AlignedBuffer<int32_t> c;
  const int nb = K / kQ8Block;
  const int rows = plain ? (n + kQ8AmxRows - 1) / kQ8AmxRows * kQ8AmxRows : n;
  int8_t* qd = q.get(static_cast<size_t>(rows) * K);
  float* sd = s.get(static_cast<size_t>(n) * nb);
  int32_t* cd = c.get(static_cast<size_t>(n) * nb);
  parallel_range(n, 16, [&](int64_t r0, int64_t r1) {
    if (avx512)
      return qk::q8_quantize_rows_avx512(x, K, static_cast<int>(r0), static_cast<int>(r1), qd, sd,
                                         cd, plain);
    for (int64_t r = r0; r < r1; r++)
      for (int b = 0; b < nb; b++) {
        int8_t qb[kQ8Block];
        sd[r * nb + b] = quantize_block(x + r * K + b * kQ8Block, qb);
        int32_t sum = 0;
        for (int t = 0; t < kQ8Block; t++) sum += qb[t];
        cd[r * nb + b] = -128 * sum;
        if (plain)
          std::memcpy(qd + r * K + b * kQ8Block, qb, kQ8Block);
        else
          pack_block(qd + r * K, K, b, qb);
      }
  });
  std::memset(qd + static_cast<size_t>(n) * K, 0, static_cast<size_t>(rows - n) * K);
  return {qd, sd, cd};
}

// Walks the packed layout: group by group, block l's bytes are 4 at a time, G·4 apart.
void q8_portable(const QMatrix& w, const qk::Q8Acts& x, int n, float* y, int r0, int r1) {
  const int K = w.cols, nb = K / kQ8Block;
  for (int j = 0; j < n; j++) {
    const int8_t* xq = x.q + static_cast<size_t>(j) * K;
    const float* xs = x.s + static_cast<size_t>(j) * nb;
    const int32_t* xc = x.c + static_cast<size_t>(j) * nb;
    for (int o = r0; o < r1; o++) {
      const uint8_t* wq = w.q.data() + static_cast<size_t>(o) * K;
      const float* ws = w.scale.data() + static_cast<size_t>(o) * nb;
      float acc = 0;
      for (int g0 = 0; g0 < nb; g0 += kQ8Group) {
        const int G = std::min(kQ8Group, nb - g0);
        const size_t base = static_cast<size_t>(g0) * kQ8Block;
        for (int l = 0; l < G; l++) {
          int32_t dot = xc[g0 + l];  // Σ (q + 128) · x - 128 · Σ x = Σ q · x
          for (int v = 0; v < kQ8Block / 4; v++)
            for (int t = 0; t < 4; t++) {
              const size_t at = base + static_cast<size_t>(v) * G * 4 + l * 4 + t;
              dot += static_cast<int32_t>(wq[at]) * xq[at];
            }
          acc += ws[g0 + l] * xs[g0 + l] * static_cast<float>(dot);
        }
      }
      y[static_cast<size_t>(j) * w.rows + o] = acc;
    }
  }
}

// X rounded to bf16 once per call (as f32_to_bf16, written so that it vectorizes): as bf16
// bits for vdpbf16ps, or widened back to f32 for the other kernels.
const void* round_acts_bf16(const float* x, size_t count, bool bits) {
  thread_local AlignedBuffer<uint16_t> b;
  thread_local AlignedBuffer<float> f;
  uint16_t* bd = bits ? b.get(count) : nullptr;
  float* fd = bits ? nullptr : f.get(count);
  parallel_range(static_cast<int64_t>(count), 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      uint32_t u;
      std::memcpy(&u, x + i, 4);
      const uint32_t nan = (u >> 16) | 0x40u;
      const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
      const uint32_t h = (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
      if (bits) {
        bd[i] = static_cast<uint16_t>(h);
      } else {
        const uint32_t wide = h << 16;
        std::memcpy(fd + i, &wide, 4);
      }
    }
  });
  return bits ? static_cast<const void*>(bd) : static_cast<const void*>(fd);
}

void bf16_portable(const QMatrix& w, const float* x, int n, float* y, int r0, int r1) {
  const int K = w.cols;
  for (int j = 0; j < n; j++)
    for (int o = r0; o < r1; o++) {
      const uint16_t* wr = w.bf16.data() + static_cast<size_t>(o) * K;
      const float* xr = x + static_cast<size_t>(j) * K;
      float acc = 0;
      for (int k = 0; k < K; k++) acc += bf16_to_f32(wr[k]) * xr[k];
      y[static_cast<size_t>(j) * w.rows + o] = acc;
    }
}

// Output rows split over the threads; one thread for products too small to pay for a fork.
template <typename F>
void over_rows(const QMatrix& w, int n, F&& fn) {
  const double macs = static_cast<double>(w.rows) * w.cols * n;
  parallel_range(w.rows, macs >= (1 << 17) ? 32 : INT64_MAX,
                 [&](int64_t r0, int64_t r1) { fn(static_cast<int>(r0), static_cast<int>(r1)); });
}

}  // namespace

void qmatmul_force_kernel(QKernel kernel) {
  forced_kernel().store(kernel, std::memory_order_relaxed);
}

void qmatmul(const QMatrix& w, const float* x, int n, float* y) { qmatmul_rows(w, x, n, 0, n, y); }

namespace {

// f32 products of up to kGemvRows rows take aero's gemv, on every family but the portable one.
bool f32_gemv(int n, QKernel k) { return n <= kGemvRows && k != QKernel::portable; }

}  // namespace

bool qmatmul_splits_rows(const QMatrix& w, int n) {
  if (w.format != QFormat::f32) return true;
  return f32_gemv(n, pick(w.format)) || sgemm_uses_direct(n, w.rows, w.cols);
}

void qmatmul_rows(const QMatrix& w, const float* x, int n, int j0, int j1, float* y) {
  if (j1 <= j0) return;
  QKernel k = pick(w.format);
  const int m = j1 - j0;  // the rows computed; the kernel is the one for n rows
  x += static_cast<ptrdiff_t>(j0) * w.cols;
  y += static_cast<ptrdiff_t>(j0) * w.rows;
  switch (w.format) {
    case QFormat::f32: {
      if (f32_gemv(n, k)) {
        over_rows(w, m, [&](int r0, int r1) {
          if (k == QKernel::avx512)
            qk::f32_avx512(w, x, m, y, r0, r1);
          else
            qk::f32_avx2(w, x, m, y, r0, r1);
        });
        return;
      }
      const bool t = w.f32t.empty();  // B = W, transposed, unless Wᵀ is kept
      const float* b = t ? w.f32_data() : w.f32t.data();
      const int ldb = t ? w.cols : w.rows;
      if (sgemm_uses_direct(n, w.rows, w.cols))
        return sgemm_direct(false, t, m, w.rows, w.cols, 1.0f, x, w.cols, b, ldb, 0.0f, y, w.rows);
      return sgemm(false, t, m, w.rows, w.cols, 1.0f, x, w.cols, b, ldb, 0.0f, y, w.rows);
    }
    case QFormat::bf16: {
      if (n >= kBf16TileRows && k == QKernel::avx512 && bf16_kernel() == Bf16Kernel::amx)
        return gemm_bf16_wt(Bf16Kernel::amx, m, w.rows, w.cols, x, w.cols, w.bf16.data(), w.cols, y,
                            w.rows);
      const bool dp = k == QKernel::avx512 && cpu_info().avx512_bf16;
      const void* xr = round_acts_bf16(x, static_cast<size_t>(m) * w.cols, dp);
      const float* xf = static_cast<const float*>(xr);
      over_rows(w, m, [&](int r0, int r1) {
        if (dp)
          qk::bf16_avx512_dp(w, static_cast<const uint16_t*>(xr), m, y, r0, r1);
        else if (k == QKernel::avx512)
          qk::bf16_avx512(w, xf, m, y, r0, r1);
        else if (k == QKernel::portable)
          bf16_portable(w, xf, m, y, r0, r1);
        else
          qk::bf16_avx2(w, xf, m, y, r0, r1);
      });
      return;
    }
    case QFormat::q8: {
      if (k == QKernel::amx) {
        if (n >= kQ8AmxRows) return qk::q8_amx(w, quantize_acts(x, m, w.cols, true, true), m, y);
        k = QKernel::avx512;
      }
      const qk::Q8Acts xq = quantize_acts(x, m, w.cols, k == QKernel::avx512);
      over_rows(w, m, [&](int r0, int r1) {
        if (k == QKernel::avx512)
          qk::q8_avx512(w, xq, m, y, r0, r1);
        else if (k == QKernel::avx_vnni)
          qk::q8_avx_vnni(w, xq, m, y, r0, r1);
        else if (k == QKernel::avx2)
          qk::q8_avx2(w, xq, m, y, r0, r1);
        else
          q8_portable(w, xq, m, y, r0, r1);
      });
      return;
    }
  }
}

std::string qmatmul_kernel(QFormat format) {
  const QKernel k = pick(format);
  const char* isa = k == QKernel::avx512     ? "avx512"
                    : k == QKernel::avx_vnni ? "avx-vnni"
                    : k == QKernel::avx2     ? "avx2"
                                             : "portable";
  switch (format) {
    case QFormat::f32:
      if (k == QKernel::portable) return "f32: sgemm";
      return std::string("f32: sgemm, ") + isa + " gemv for n <= " + std::to_string(kGemvRows);
    case QFormat::bf16:
      return std::string("bf16: ") +
             (k == QKernel::avx512 && cpu_info().avx512_bf16 ? "avx512-bf16" : isa) +
             (k == QKernel::avx512 && bf16_kernel() == Bf16Kernel::amx
                  ? ", amx for n >= " + std::to_string(kBf16TileRows)
                  : "");
    case QFormat::q8:
      if (k == QKernel::amx) return "q8: avx512-vnni, amx for n >= " + std::to_string(kQ8AmxRows);
      return std::string("q8: ") + (k == QKernel::avx512 ? "avx512-vnni" : isa);
  }
  return "";
}

}  // namespace aero
