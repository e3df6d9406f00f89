#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "kernels/gemm_bf16.h"
#include "kernels/quant.h"

using namespace aero;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// The kernel families this CPU can run for `format` (qmatmul lowers the others).
std::vector<QKernel> runnable(QFormat format) {
  const CpuInfo& c = cpu_info();
  std::vector<QKernel> k = {QKernel::portable};
  if (c.avx2 && c.fma) k.push_back(QKernel::avx2);
  if (format == QFormat::q8 && c.avx2 && c.fma && c.avx_vnni) k.push_back(QKernel::avx_vnni);
  if (c.avx512f && c.avx512bw && c.avx512vl && (format != QFormat::q8 || c.avx512_vnni))
    k.push_back(QKernel::avx512);
  qmatmul_force_kernel(QKernel::best);  // q8 on AMX where the CPU has it and Linux grants it
  if (format == QFormat::q8 && qmatmul_kernel(format).find("amx") != std::string::npos)
    k.push_back(QKernel::amx);
  return k;
}

const char* name(QKernel k) {
  switch (k) {
    case QKernel::portable:
      return "portable";
    case QKernel::avx2:
      return "avx2";
    case QKernel::avx_vnni:
      return "avx-vnni";
    case QKernel::avx512:
      return "avx512";
    case QKernel::amx:
      return "amx";
    case QKernel::best:
      return "best";
  }
  return "";
}

// Restores the default kernel choice when a test ends, even on failure.
struct ForceKernel {
  explicit ForceKernel(QKernel k) { qmatmul_force_kernel(k); }
  ~ForceKernel() { qmatmul_force_kernel(QKernel::best); }
};

// Every runnable path against qmatmul_ref: only the f32 summation order may differ, so the
// error is bounded by a small multiple of eps · Σ|w·x| per output.
void expect_matches_ref(const QMatrix& m, const std::vector<float>& x, int n) {
  std::vector<float> ref(static_cast<size_t>(n) * m.rows);
  qmatmul_ref(m, x.data(), n, ref.data());
  const std::vector<float> wd = dequantize(m);
  std::vector<double> bound(ref.size());
  for (int j = 0; j < n; j++)
    for (int o = 0; o < m.rows; o++) {
      double s = 0;
      for (int k = 0; k < m.cols; k++)
        s += std::fabs(wd[static_cast<size_t>(o) * m.cols + k] *
                       x[static_cast<size_t>(j) * m.cols + k]);
      bound[static_cast<size_t>(j) * m.rows + o] = 1e-5 * s * 1.01 + 1e-30;
    }
  for (QKernel k : runnable(m.format)) {
    ForceKernel force(k);
    std::vector<float> y(ref.size(), std::numeric_limits<float>::quiet_NaN());
    qmatmul(m, x.data(), n, y.data());
    int bad = 0;
    for (size_t i = 0; i < y.size() && bad < 5; i++)
      if (!(std::fabs(y[i] - ref[i]) <= bound[i])) {
        bad++;
        ADD_FAILURE() << qmatmul_kernel(m.format) << " rows " << m.rows << " cols " << m.cols
                      << " n " << n << " at (" << i / m.rows << ", " << i % m.rows << "): " << y[i]
                      << " vs ref " << ref[i] << " (bound " << bound[i] << ")";
      }
  }
}

}  // namespace

TEST(Quant, every_path_matches_reference_on_odd_shapes) {
  uint32_t seed = 1;
  for (QFormat f : {QFormat::q8, QFormat::bf16, QFormat::f32})
    for (int rows : {1, 5, 17, 67})
      for (int cols : {32, 96, 544, 768}) {
        const std::vector<float> w = randn(static_cast<size_t>(rows) * cols, seed++, 0.05f);
        const QMatrix m = quantize(w.data(), rows, cols, f);
        for (int n : {1, 3, 4, 5, 11, kGemvRows, kGemvRows + 1, kBf16TileRows + 1, 64}) {
          const std::vector<float> x = randn(static_cast<size_t>(n) * cols, seed++);
          expect_matches_ref(m, x, n);
        }
      }
}

TEST(Quant, float_paths_handle_columns_that_are_not_a_vector_multiple) {
  uint32_t seed = 100;
  for (QFormat f : {QFormat::bf16, QFormat::f32})
    for (int cols : {1, 7, 17, 100, 257}) {
      const std::vector<float> w = randn(static_cast<size_t>(19) * cols, seed++);
      const QMatrix m = quantize(w.data(), 19, cols, f);
      for (int n : {1, 2, 6, kGemvRows})
        expect_matches_ref(m, randn(static_cast<size_t>(n) * cols, seed++), n);
    }
}

TEST(Quant, long_rows_and_many_tokens_take_x_in_chunks) {
  // cols = 3072: the kernels pass over X in chunks of rows that fit in L2.
  const int rows = 40, cols = 3072, n = 97;
  const std::vector<float> w = randn(static_cast<size_t>(rows) * cols, 7, 0.02f);
  const std::vector<float> x = randn(static_cast<size_t>(n) * cols, 8);
  for (QFormat f : {QFormat::q8, QFormat::bf16})
    expect_matches_ref(quantize(w.data(), rows, cols, f), x, n);
}

TEST(Quant, zero_blocks_give_zero_scale_and_no_nan) {
  const int rows = 9, cols = 96, n = 5;
  std::vector<float> w = randn(static_cast<size_t>(rows) * cols, 11);
  std::vector<float> x = randn(static_cast<size_t>(n) * cols, 12);
  for (int o = 0; o < rows; o += 2) std::fill_n(w.begin() + o * cols + 32, 32, 0.0f);
  for (int j = 0; j < n; j++) std::fill_n(x.begin() + j * cols, 32, 0.0f);
  std::fill_n(w.begin() + (rows - 1) * cols, cols, 0.0f);  // a whole row of zeros
  const QMatrix m = quantize(w.data(), rows, cols, QFormat::q8);
  EXPECT_EQ(m.scale[1], 0.0f);
  for (QKernel k : runnable(QFormat::q8)) {
    ForceKernel force(k);
    std::vector<float> y(static_cast<size_t>(n) * rows);
    qmatmul(m, x.data(), n, y.data());
    for (float v : y) EXPECT_TRUE(std::isfinite(v)) << name(k);
    for (int j = 0; j < n; j++) EXPECT_EQ(y[static_cast<size_t>(j) * rows + rows - 1], 0.0f);
  }
  expect_matches_ref(m, x, n);
}

TEST(Quant, saturated_blocks_are_exact) {
  // Every q at ±127 and every x at ±127 after quantization: the largest int32 dot products,
  // and x + 128 = 255 in the AVX-512 kernel. The integer dots are exact; only the two blocks'
  // scaled sums round (how depends on FMA contraction), at most a few ulps of a block's 32:
  // an overflow in a saturating path would be off by whole units.
  const int rows = 6, cols = 64, n = 3;
  std::vector<float> w(static_cast<size_t>(rows) * cols), x(static_cast<size_t>(n) * cols);
  for (int o = 0; o < rows; o++)
    for (int k = 0; k < cols; k++) w[o * cols + k] = (o + k) % 2 ? 2.0f : -2.0f;
  for (int j = 0; j < n; j++)
    for (int k = 0; k < cols; k++) x[j * cols + k] = (k % (j + 2) ? 0.5f : -0.5f);
  const QMatrix m = quantize(w.data(), rows, cols, QFormat::q8);
  for (uint8_t q : m.q) EXPECT_EQ(std::abs(q - 128), 127);  // stored as q + 128
  std::vector<float> ref(static_cast<size_t>(n) * rows);
  qmatmul_ref(m, x.data(), n, ref.data());
  for (QKernel k : runnable(QFormat::q8)) {
    ForceKernel force(k);
    std::vector<float> y(ref.size());
    qmatmul(m, x.data(), n, y.data());
    for (size_t i = 0; i < y.size(); i++) EXPECT_NEAR(y[i], ref[i], 1e-5) << name(k) << " at " << i;
  }
}

TEST(Quant, forced_kernel_is_reported_and_never_wider_than_the_cpu) {
  for (QKernel k : runnable(QFormat::q8)) {
    ForceKernel force(k);
    const std::string got = qmatmul_kernel(QFormat::q8);
    const std::string want =
        k == QKernel::amx ? "q8: avx512-vnni, amx" : std::string("q8: ") + name(k);
    EXPECT_EQ(got.rfind(want, 0), 0u) << got;
  }
  {
    ForceKernel force(QKernel::portable);
    EXPECT_EQ(qmatmul_kernel(QFormat::bf16), "bf16: portable");
    EXPECT_EQ(qmatmul_kernel(QFormat::f32), "f32: sgemm");
  }
  const CpuInfo& c = cpu_info();
  const bool avx512 = c.avx512f && c.avx512bw && c.avx512vl;
  const std::string bf16 = qmatmul_kernel(QFormat::bf16);
  EXPECT_EQ(bf16.rfind("bf16: avx512-bf16", 0) == 0, avx512 && c.avx512_bf16) << bf16;
  // Prefill on AMX tiles only where gemm_bf16 runs them.
  EXPECT_EQ(bf16.find("amx for n >= 32") != std::string::npos,
            avx512 && c.avx512_bf16 && bf16_kernel_supported(Bf16Kernel::amx))
      << bf16;
  const std::string best = qmatmul_kernel(QFormat::q8);
  if (!c.avx512_vnni) {
    EXPECT_EQ(best.find("avx512"), std::string::npos) << best;
  }
  if (!c.avx_vnni && !c.avx512_vnni) {
    EXPECT_EQ(best.find("vnni"), std::string::npos) << best;
  }
  if (!c.avx2) {
    EXPECT_EQ(best, "q8: portable");
  }
}

TEST(Quant, quantize_dequantize_error_bounds) {
  const int rows = 13, cols = 256;
  std::vector<float> w = randn(static_cast<size_t>(rows) * cols, 21, 0.1f);
  w[5] = 3.0f;  // one outlier: its block's scale grows, the others are unaffected
  const QMatrix q = quantize(w.data(), rows, cols, QFormat::q8);
  EXPECT_EQ(q.bytes(), static_cast<size_t>(rows) * cols + rows * cols / kQ8Block * 4);
  const std::vector<float> dq = dequantize(q);
  for (size_t i = 0; i < w.size(); i++) {
    const float scale = q.scale[i / kQ8Block];
    EXPECT_LE(std::fabs(w[i] - dq[i]), scale * 0.5f * (1 + 1e-5f)) << i;
  }
  EXPECT_FLOAT_EQ(q.scale[0], 3.0f / 127);
  EXPECT_FLOAT_EQ(dq[5], 3.0f);

  const QMatrix b = quantize(w.data(), rows, cols, QFormat::bf16);
  EXPECT_EQ(b.bytes(), static_cast<size_t>(rows) * cols * 2);
  const std::vector<float> db = dequantize(b);
  for (size_t i = 0; i < w.size(); i++)
    EXPECT_LE(std::fabs(w[i] - db[i]), std::fabs(w[i]) * std::ldexp(1.0f, -8))
        << i;  // half an ulp of 8 bits

  const QMatrix f = quantize(w.data(), rows, cols, QFormat::f32);
  EXPECT_EQ(dequantize(f), w);
}

TEST(Quant, bf16_rounds_to_nearest_even) {
  auto bits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(bits(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(f32_to_bf16(bits(0x3f818000u)), 0x3f82);  // tie, even above
  EXPECT_EQ(f32_to_bf16(bits(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(f32_to_bf16(bits(0x3f807fffu)), 0x3f80);  // just below
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(f32_to_bf16(bits(0x7f7fffffu)), 0x7f80);  // FLT_MAX rounds up to inf
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7fffffffu}) {
    const uint16_t h = f32_to_bf16(bits(nan));
    EXPECT_TRUE(std::isnan(bf16_to_f32(h))) << std::hex << nan;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000);  // sign kept
  }
  EXPECT_EQ(f32_to_bf16(bits(0x00000001u)), 0x0000);  // smallest subnormal rounds to zero
  EXPECT_EQ(bf16_to_f32(0x4049), bits(0x40490000u));
}

// An f32 view reads the weights in place: the same products as an owned f32 copy (gemv and
// sgemm paths, every kernel family), the same bytes and values, and no copy made.
// A kept Wᵀ changes how many-row products read the weights, not what they compute; one row
// (and up to kGemvRows) still goes through the gemv over W. Shapes through the direct kernel
// (cache-sized, 8 x 32 tiles with ragged edges) and through OpenBLAS (wider than 512).
TEST(Quant, a_kept_transpose_gives_the_same_products) {
  for (auto [rows, cols] : {std::pair{384, 128}, {37, 70}, {640, 96}}) {
    const std::vector<float> w = randn(size_t(rows) * cols, 21);
    QMatrix m = quantize(w.data(), rows, cols, QFormat::f32);
    keep_transposed(m);
    ASSERT_EQ(m.f32t.size(), w.size());
    EXPECT_EQ(m.f32t[size_t(5) * rows + 3], w[size_t(3) * cols + 5]);
    for (int n : {1, kGemvRows, kGemvRows + 1, 32, 100})
      expect_matches_ref(m, randn(size_t(n) * cols, 22 + n), n);
  }
  QMatrix q8 = quantize(randn(64 * 64, 23).data(), 64, 64, QFormat::q8);
  keep_transposed(q8);
  EXPECT_TRUE(q8.f32t.empty());
}

TEST(Quant, f32_view_equals_an_owned_copy) {
  const int rows = 37, cols = 70;
  const std::vector<float> w = randn(size_t(rows) * cols, 11);
  const QMatrix own = quantize(w.data(), rows, cols, QFormat::f32);
  const QMatrix view = f32_view(w.data(), rows, cols);
  EXPECT_TRUE(view.f32.empty());
  EXPECT_EQ(view.f32_data(), w.data());
  EXPECT_EQ(view.bytes(), own.bytes());
  EXPECT_EQ(dequantize(view), w);
  for (QKernel k : runnable(QFormat::f32)) {
    qmatmul_force_kernel(k);
    for (int n : {1, 3, kGemvRows + 5}) {
      const std::vector<float> x = randn(size_t(n) * cols, 12 + n);
      std::vector<float> a(size_t(n) * rows), b(size_t(n) * rows);
      qmatmul(own, x.data(), n, a.data());
      qmatmul(view, x.data(), n, b.data());
      EXPECT_EQ(a, b) << name(k) << " n " << n;
    }
  }
  qmatmul_force_kernel(QKernel::best);
}
