// bf16 products (gemm_bf16.h). Both operands are packed once per call into the layout the bf16
// units read, rounding to bf16 on the way:
//   A: rows of Kp bf16 (Kp = K rounded up to 32, zero padded), Mp = M rounded up to 32 rows;
//      an AMX A tile is 16 rows x 32 k at row stride Kp.
//   B: panels of 16 columns; within a panel, for each pair of k (kp = k / 2), 16 columns x 2 k
//      = 32 bf16 (64 bytes): [col 0 k0, col 0 k1, col 1 k0, ...]. That is vdpbf16ps's operand
//      layout (lane j sums the pair of column j) and an AMX B tile's (16 pair-rows x 64 bytes).
// Each micro-kernel computes one 32 x 32 block of C from 32 packed rows of A and two panels of
// B over all of K, into a scratch tile that the common epilogue adds to C (beta, bias, add,
// partial edges). No K splitting, so every element's sum order is fixed.
//
// Every x86 kernel carries the target attribute of its instructions (the file is compiled for
// the build's baseline) and runs only after cpu_info() reported them.
//
// GCC 12's AVX-512 headers warn about their own _mm512_undefined_ps() when inlined; the warning
// points into the header, so it is silenced for this file (clang has no such warning group).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "kernels/gemm_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/cpu.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/amx_tiles.h"

#define AERO_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define AERO_AMX __attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-bf16")))

namespace aero {
namespace {

constexpr int kBlock = 32;  // rows and columns of C per micro-kernel call
constexpr int kPanel = 16;  // columns per packed B panel

inline uint16_t to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float from_bf16(uint16_t v) {
  uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// ---- packing

// Rows [i0, i0 + kBlock) of op(A) into dst (kBlock rows of Kp), zero past M and K.
void pack_a_block(uint16_t* dst, const float* A, int lda, bool trans_a, int M, int K, int Kp,
                  int i0) {
  const int rows = std::min(kBlock, M - i0);
  if (!trans_a) {
    for (int r = 0; r < rows; r++) {
      const float* src = A + static_cast<ptrdiff_t>(i0 + r) * lda;
      uint16_t* d = dst + static_cast<ptrdiff_t>(r) * Kp;
#pragma omp simd
      for (int k = 0; k < K; k++) d[k] = to_bf16(src[k]);
      std::fill(d + K, d + Kp, uint16_t(0));
    }
  } else {
    // A is (K, M): row k holds column k of op(A); read along it, write down the block's rows.
    for (int k = 0; k < K; k++) {
      const float* src = A + static_cast<ptrdiff_t>(k) * lda + i0;
      for (int r = 0; r < rows; r++) dst[static_cast<ptrdiff_t>(r) * Kp + k] = to_bf16(src[r]);
    }
    for (int r = 0; r < rows; r++)
      std::fill(dst + static_cast<ptrdiff_t>(r) * Kp + K, dst + static_cast<ptrdiff_t>(r + 1) * Kp,
                uint16_t(0));
  }
  for (int r = rows; r < kBlock; r++)
    std::fill(dst + static_cast<ptrdiff_t>(r) * Kp, dst + static_cast<ptrdiff_t>(r + 1) * Kp,
              uint16_t(0));
}

// Columns [j0, j0 + kPanel) of op(B) into one panel (Kp / 2 pair-rows of 32 bf16).
void pack_b_panel(uint16_t* dst, const float* B, int ldb, bool trans_b, int N, int K, int Kp,
                  int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  std::memset(dst, 0, sizeof(uint16_t) * static_cast<size_t>(Kp) * kPanel);
  if (trans_b) {
    // B is (N, K): column j of op(B) is row j of B, contiguous in k.
    for (int c = 0; c < cols; c++) {
      const float* src = B + static_cast<ptrdiff_t>(j0 + c) * ldb;
      uint16_t* d = dst + 2 * c;
      for (int k = 0; k < K; k++) d[(k >> 1) * 32 + (k & 1)] = to_bf16(src[k]);
    }
  } else {
    // B is (K, N): rows k and k + 1 interleave column by column.
    for (int k = 0; k < K; k++) {
      const float* src = B + static_cast<ptrdiff_t>(k) * ldb + j0;
      uint16_t* d = dst + (k >> 1) * 32 + (k & 1);
      for (int c = 0; c < cols; c++) d[2 * c] = to_bf16(src[c]);
    }
  }
}

// ---- packing with AVX-512 (the avx512-bf16 and AMX kernels): the same layouts and the same
// rounding as above, 16 or 32 values at a time; transposes go through 16 x 16 blocks of 32-bit
// pairs.

#define AERO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

// 16 floats -> 16 bf16 in the low halves of 32-bit lanes (round to nearest even, NaN quiet).
AERO_AVX512 inline __m512i bf16_lanes(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i bias =
      _mm512_add_epi32(_mm512_and_si512(hi, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
}

// n (<= 16) floats from src, zeros after.
AERO_AVX512 inline __m512 load_n(const float* src, int n) {
  return n >= 16 ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), src);
}

// n (<= 32) consecutive floats -> 32 consecutive bf16 (16 pairs), zeros after n.
AERO_AVX512 inline __m512i bf16_pairs(const float* src, int n) {
  const __m512i lo = bf16_lanes(load_n(src, n > 0 ? std::min(n, 16) : 0));
  const __m512i hi = bf16_lanes(load_n(src + 16, n > 16 ? n - 16 : 0));
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(lo)),
                            _mm512_cvtepi32_epi16(hi), 1);
}

// r[i][j] <- r[j][i] for 16 x 16 32-bit values.
AERO_AVX512 inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // Rows now hold 4 x 4 blocks; gather the 128-bit lanes.
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 4; i++) {
      t[8 * h + i] = _mm512_shuffle_i32x4(r[8 * h + i], r[8 * h + i + 4], 0x88);
      t[8 * h + i + 4] = _mm512_shuffle_i32x4(r[8 * h + i], r[8 * h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

AERO_AVX512 void pack_a_block_avx512(uint16_t* dst, const float* A, int lda, bool trans_a, int M,
                                     int K, int Kp, int i0) {
  const int rows = std::min(kBlock, M - i0);
  if (!trans_a) {
    for (int r = 0; r < kBlock; r++) {
      const float* src = A + static_cast<ptrdiff_t>(i0 + r) * lda;
      uint16_t* d = dst + static_cast<ptrdiff_t>(r) * Kp;
      for (int k = 0; k < Kp; k += 32)
        _mm512_storeu_si512(d + k, r < rows ? bf16_pairs(src + k, K - k) : _mm512_setzero_si512());
    }
    return;
  }
  // A is (K, M): pairs of its rows k, k + 1 give 16 pairs along i, transposed to 16 rows of i.
  for (int h = 0; h < kBlock; h += 16) {
    const int n = std::max(0, std::min(16, rows - h));
    for (int k0 = 0; k0 < Kp; k0 += 32) {
      __m512i v[16];
      for (int p = 0; p < 16; p++) {
        const int k = k0 + 2 * p;
        const __m512i lo = k < K
                               ? bf16_lanes(load_n(A + static_cast<ptrdiff_t>(k) * lda + i0 + h, n))
                               : _mm512_setzero_si512();
        const __m512i hi =
            k + 1 < K ? bf16_lanes(load_n(A + static_cast<ptrdiff_t>(k + 1) * lda + i0 + h, n))
                      : _mm512_setzero_si512();
        v[p] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
      }
      transpose16(v);
      for (int i = 0; i < 16; i++)
        _mm512_storeu_si512(dst + static_cast<ptrdiff_t>(h + i) * Kp + k0, v[i]);
    }
  }
}

AERO_AVX512 void pack_b_panel_avx512(uint16_t* dst, const float* B, int ldb, bool trans_b, int N,
                                     int K, int Kp, int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  if (trans_b) {
    // B is (N, K): 32 k of each of the 16 columns as 16 pairs, transposed to 16 pair-rows.
    for (int k0 = 0; k0 < Kp; k0 += 32) {
      __m512i v[16];
      for (int c = 0; c < 16; c++)
        v[c] = c < cols ? bf16_pairs(B + static_cast<ptrdiff_t>(j0 + c) * ldb + k0, K - k0)
                        : _mm512_setzero_si512();
      transpose16(v);
      for (int p = 0; p < 16; p++) _mm512_storeu_si512(dst + (k0 / 2 + p) * 32, v[p]);
    }
    return;
  }
  // B is (K, N): rows k and k + 1, 16 columns each, interleave into one pair-row.
  for (int kp = 0; kp < Kp / 2; kp++) {
    const int k = 2 * kp;
    const __m512i lo = k < K ? bf16_lanes(load_n(B + static_cast<ptrdiff_t>(k) * ldb + j0, cols))
                             : _mm512_setzero_si512();
    const __m512i hi = k + 1 < K
                           ? bf16_lanes(load_n(B + static_cast<ptrdiff_t>(k + 1) * ldb + j0, cols))
                           : _mm512_setzero_si512();
    _mm512_storeu_si512(dst + kp * 32, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
  }
}

// ---- micro-kernels: tile (32 x 32, row stride 32) = a (32 rows of Kp) · the two panels at b.

using MicroFn = void (*)(const uint16_t* a, const uint16_t* b, int Kp, float* tile);

void micro_portable(const uint16_t* a, const uint16_t* b, int Kp, float* tile) {
  const uint16_t* panels[2] = {b, b + static_cast<ptrdiff_t>(Kp) * kPanel};
  for (int r = 0; r < kBlock; r++) {
    float acc[kBlock] = {};
    const uint16_t* ar = a + static_cast<ptrdiff_t>(r) * Kp;
    for (int kp = 0; kp < Kp / 2; kp++) {
      const float a0 = from_bf16(ar[2 * kp]), a1 = from_bf16(ar[2 * kp + 1]);
      for (int q = 0; q < 2; q++) {
        const uint16_t* bp = panels[q] + kp * 32;
        float* o = acc + q * kPanel;
#pragma omp simd
        for (int c = 0; c < kPanel; c++) {
          o[c] = std::fma(a0, from_bf16(bp[2 * c]), o[c]);
          o[c] = std::fma(a1, from_bf16(bp[2 * c + 1]), o[c]);
        }
      }
    }
    std::memcpy(tile + r * kBlock, acc, sizeof(acc));
  }
}

// vdpbf16ps: 8 rows x 32 columns in 16 accumulators per pass; the pair (a[r][2kp], a[r][2kp+1])
// is broadcast as one 32-bit value and each lane of a panel row holds its column's pair.
AERO_AVX512BF16 void micro_avx512(const uint16_t* a, const uint16_t* b, int Kp, float* tile) {
  constexpr int R = 8;
  const uint16_t* b1 = b + static_cast<ptrdiff_t>(Kp) * kPanel;
  for (int r0 = 0; r0 < kBlock; r0 += R) {
    __m512 acc[R][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const uint16_t* ar = a + static_cast<ptrdiff_t>(r0) * Kp;
    for (int kp = 0; kp < Kp / 2; kp++) {
      const __m512bh w0 = (__m512bh)_mm512_loadu_si512(b + kp * 32);
      const __m512bh w1 = (__m512bh)_mm512_loadu_si512(b1 + kp * 32);
      for (int r = 0; r < R; r++) {
        int32_t pair;
        std::memcpy(&pair, ar + static_cast<ptrdiff_t>(r) * Kp + 2 * kp, 4);
        const __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
        acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, w0);
        acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, w1);
      }
    }
    for (int r = 0; r < R; r++) {
      _mm512_storeu_ps(tile + (r0 + r) * kBlock, acc[r][0]);
      _mm512_storeu_ps(tile + (r0 + r) * kBlock + kPanel, acc[r][1]);
    }
  }
}

// AMX tile configuration: tmm0-3 the four 16 x 16 fp32 blocks of C, tmm4-5 two 16-row slices
// of A (32 bf16 of k each), tmm6-7 the two B panels (16 pair-rows each).
AERO_AMX void amx_begin() {
  AmxTileConfig cfg;
  for (int t = 0; t < 8; t++) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

AERO_AMX void amx_end() { _tile_release(); }

// The tile intrinsics are asm statements that do not tell the compiler which memory they read
// or write; the clobbers order them against the packing and the epilogue.
AERO_AMX void micro_amx(const uint16_t* a, const uint16_t* b, int Kp, float* tile) {
  const uint16_t* b1 = b + static_cast<ptrdiff_t>(Kp) * kPanel;
  const uint16_t* a1 = a + static_cast<ptrdiff_t>(16) * Kp;
  const long sa = static_cast<long>(Kp) * 2;
  __asm__ volatile("" ::: "memory");
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int k = 0; k < Kp; k += 32) {
    _tile_loadd(4, a + k, sa);
    _tile_loadd(5, a1 + k, sa);
    _tile_loadd(6, b + k * 16, 64);
    _tile_loadd(7, b1 + k * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, tile, kBlock * 4);
  _tile_stored(1, tile + kPanel, kBlock * 4);
  _tile_stored(2, tile + 16 * kBlock, kBlock * 4);
  _tile_stored(3, tile + 16 * kBlock + kPanel, kBlock * 4);
  __asm__ volatile("" ::: "memory");
}

// C block (rows i0.., columns j0..) from the tile: C = tile + beta C + bias + add.
void epilogue(const float* tile, int rows, int cols, float beta, float* C, int ldc,
              const float* bias, const float* add, int ld_add, int i0, int j0) {
  for (int r = 0; r < rows; r++) {
    float* c = C + static_cast<ptrdiff_t>(i0 + r) * ldc + j0;
    const float* t = tile + r * kBlock;
    const float* ad = add ? add + static_cast<ptrdiff_t>(i0 + r) * ld_add + j0 : nullptr;
    const float* bi = bias ? bias + j0 : nullptr;
#pragma omp simd
    for (int j = 0; j < cols; j++) {
      float v = t[j];
      if (beta != 0.0f) v += c[j];
      if (bi) v += bi[j];
      if (ad) v += ad[j];
      c[j] = v;
    }
  }
}

// A growable 64-byte-aligned buffer (AMX tile loads and vdpbf16ps panel loads are aligned).
class Buffer {
 public:
  ~Buffer() { std::free(data_); }
  uint16_t* get(size_t n) {
    if (n > size_) {
      std::free(data_);
      data_ = static_cast<uint16_t*>(std::aligned_alloc(64, (n * 2 + 63) / 64 * 64));
      AERO_CHECK(data_, "[gemm_bf16] out of memory (", n * 2, " bytes)");
      size_ = n;
    }
    return data_;
  }

 private:
  uint16_t* data_ = nullptr;
  size_t size_ = 0;
};

Bf16Kernel env_cap() {
  const char* env = std::getenv("AERO_BF16_KERNEL");
  const std::string v = env ? env : "";
  if (v.empty() || v == "best") return Bf16Kernel::best;
  if (v == "portable") return Bf16Kernel::portable;
  if (v == "avx512" || v == "avx512-bf16") return Bf16Kernel::avx512;
  if (v == "amx") return Bf16Kernel::amx;
  log_warn("[gemm_bf16] AERO_BF16_KERNEL=", v, " not understood (portable, avx512, amx, best)");
  return Bf16Kernel::best;
}

std::atomic<Bf16Kernel>& cap() {
  static std::atomic<Bf16Kernel> c{env_cap()};
  return c;
}

}  // namespace

const char* bf16_kernel_name(Bf16Kernel k) {
  switch (k) {
    case Bf16Kernel::portable:
      return "portable";
    case Bf16Kernel::avx512:
      return "avx512-bf16";
    case Bf16Kernel::amx:
      return "amx";
    case Bf16Kernel::best:
      return "best";
  }
  return "?";
}

bool bf16_kernel_supported(Bf16Kernel k) {
  const CpuInfo& c = cpu_info();
  const bool avx512 = c.avx512f && c.avx512bw && c.avx512vl;
  switch (k) {
    case Bf16Kernel::portable:
      return true;
    case Bf16Kernel::avx512:
      return avx512 && c.avx512_bf16;
    case Bf16Kernel::amx:
      return avx512 && c.amx_tile && c.amx_bf16 && request_amx();
    case Bf16Kernel::best:
      return true;
  }
  return false;
}

Bf16Kernel bf16_kernel() {
  const Bf16Kernel want = cap().load(std::memory_order_relaxed);
  for (Bf16Kernel k : {Bf16Kernel::amx, Bf16Kernel::avx512})
    if (want >= k && bf16_kernel_supported(k)) return k;
  return Bf16Kernel::portable;
}

void set_bf16_kernel_cap(Bf16Kernel k) { cap().store(k, std::memory_order_relaxed); }

bool bf16_hardware() {
  return bf16_kernel_supported(Bf16Kernel::avx512) || bf16_kernel_supported(Bf16Kernel::amx);
}

void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc, const float* bias,
               const float* add, int ld_add) {
  gemm_bf16_with(bf16_kernel(), trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, bias, add,
                 ld_add);
}

namespace {

// Columns [j0, j0 + kPanel) of W (N, K), already bf16, into one panel: W's rows are op(B)'s
// columns.
void pack_b_panel_bf16(uint16_t* dst, const uint16_t* W, int ldw, int N, int K, int Kp, int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  std::memset(dst, 0, sizeof(uint16_t) * static_cast<size_t>(Kp) * kPanel);
  for (int c = 0; c < cols; c++) {
    const uint16_t* src = W + static_cast<ptrdiff_t>(j0 + c) * ldw;
    for (int k = 0; k < K; k++) dst[(k >> 1) * 32 + 2 * c + (k & 1)] = src[k];
  }
}

AERO_AVX512 void pack_b_panel_bf16_avx512(uint16_t* dst, const uint16_t* W, int ldw, int N, int K,
                                          int Kp, int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  for (int k0 = 0; k0 < Kp; k0 += 32) {
    const int n = std::max(0, std::min(32, K - k0));
    const __mmask32 m = n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1);
    __m512i v[16];
    for (int c = 0; c < 16; c++)
      v[c] = c < cols ? _mm512_maskz_loadu_epi16(m, W + static_cast<ptrdiff_t>(j0 + c) * ldw + k0)
                      : _mm512_setzero_si512();
    transpose16(v);
    for (int p = 0; p < 16; p++) _mm512_storeu_si512(dst + (k0 / 2 + p) * 32, v[p]);
  }
}

// Columns [j0, j0 + kPanel) of W (K, N), already bf16: rows k and k + 1 interleave.
void pack_b_panel_bf16_n(uint16_t* dst, const uint16_t* W, int ldw, int N, int K, int Kp, int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  std::memset(dst, 0, sizeof(uint16_t) * static_cast<size_t>(Kp) * kPanel);
  for (int k = 0; k < K; k++) {
    const uint16_t* src = W + static_cast<ptrdiff_t>(k) * ldw + j0;
    uint16_t* d = dst + (k >> 1) * 32 + (k & 1);
    for (int c = 0; c < cols; c++) d[2 * c] = src[c];
  }
}

AERO_AVX512 void pack_b_panel_bf16_n_avx512(uint16_t* dst, const uint16_t* W, int ldw, int N, int K,
                                            int Kp, int j0) {
  const int cols = std::max(0, std::min(kPanel, N - j0));
  const __mmask16 m = __mmask16((1u << cols) - 1);
  auto row = [&](int k) {
    return k < K ? _mm512_cvtepu16_epi32(
                       _mm256_maskz_loadu_epi16(m, W + static_cast<ptrdiff_t>(k) * ldw + j0))
                 : _mm512_setzero_si512();
  };
  for (int kp = 0; kp < Kp / 2; kp++)
    _mm512_storeu_si512(dst + kp * 32,
                        _mm512_or_si512(row(2 * kp), _mm512_slli_epi32(row(2 * kp + 1), 16)));
}

// Rows [i0, i0 + kBlock) of A (M, K), already bf16, into dst (kBlock rows of Kp), zero past M
// and K.
void pack_a_block_bf16(uint16_t* dst, const uint16_t* A, int lda, int M, int K, int Kp, int i0) {
  const int rows = std::min(kBlock, M - i0);
  for (int r = 0; r < kBlock; r++) {
    uint16_t* d = dst + static_cast<ptrdiff_t>(r) * Kp;
    if (r < rows) std::memcpy(d, A + static_cast<ptrdiff_t>(i0 + r) * lda, sizeof(uint16_t) * K);
    std::fill(d + (r < rows ? K : 0), d + Kp, uint16_t(0));
  }
}

AERO_AVX512 void pack_a_block_bf16_avx512(uint16_t* dst, const uint16_t* A, int lda, int M, int K,
                                          int Kp, int i0) {
  const int rows = std::min(kBlock, M - i0);
  for (int r = 0; r < kBlock; r++) {
    const uint16_t* src = A + static_cast<ptrdiff_t>(i0 + r) * lda;
    uint16_t* d = dst + static_cast<ptrdiff_t>(r) * Kp;
    for (int k = 0; k < Kp; k += 32) {
      const int n = std::max(0, std::min(32, K - k));
      const __mmask32 m = n >= 32 ? ~__mmask32(0) : __mmask32((1u << n) - 1);
      _mm512_storeu_si512(d + k,
                          r < rows ? _mm512_maskz_loadu_epi16(m, src + k) : _mm512_setzero_si512());
    }
  }
}

// C(M, N) = op(A) · op(B) (+ beta C + bias + add) with op(A)'s packing given by
// pack_a(dst, i0, Kp): kBlock rows from row i0; and op(B)'s by pack_b(dst, j0, Kp): one panel of
// 16 columns from column j0.
template <typename PackA, typename PackB>
void gemm_impl(Bf16Kernel k, int M, int N, int K, const PackA& pack_a, const PackB& pack_b,
               float beta, float* C, int ldc, const float* bias, const float* add, int ld_add) {
  if (M <= 0 || N <= 0) return;
  if (k == Bf16Kernel::best) k = bf16_kernel();
  AERO_CHECK(bf16_kernel_supported(k), "[gemm_bf16] kernel ", bf16_kernel_name(k),
             " is not supported on this CPU");
  const MicroFn micro = k == Bf16Kernel::amx      ? micro_amx
                        : k == Bf16Kernel::avx512 ? micro_avx512
                                                  : micro_portable;
  const bool amx = k == Bf16Kernel::amx;
  const int Kp = round_up(std::max(K, 0), 32), Mp = round_up(M, kBlock), Np = round_up(N, kBlock);
  const int m_blocks = Mp / kBlock, n_blocks = Np / kBlock;
  // Columns of B packed at a time: about 1 MiB of panels (stays in L2 while every block of A
  // passes over it).
  const int nc = Kp == 0 ? Np : std::clamp((1 << 19) / Kp / kBlock * kBlock, kBlock, Np);
  thread_local Buffer a_buf;
  uint16_t* ap = a_buf.get(static_cast<size_t>(Mp) * std::max(Kp, 1));
  const double flops = 2.0 * M * N * std::max(K, 1);
  const bool parallel = !omp_in_parallel() && omp_get_max_threads() > 1 && flops > 2e6;

  // A is packed once by all threads; then each thread owns a contiguous range of C's column
  // blocks and packs its own panels of B, so the only barrier is the one after A (on shared
  // cores a barrier waits for a descheduled thread: one per B chunk made loaded runs crawl).
#pragma omp parallel if (parallel)
  {
    alignas(64) float tile[kBlock * kBlock];
#pragma omp for schedule(static)
    for (int mb = 0; mb < m_blocks; mb++)
      pack_a(ap + static_cast<ptrdiff_t>(mb) * kBlock * Kp, mb * kBlock, Kp);
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int b0 = int(int64_t(n_blocks) * t / nt), b1 = int(int64_t(n_blocks) * (t + 1) / nt);
    if (b0 < b1) {
      thread_local Buffer b_buf;
      uint16_t* bp = b_buf.get(static_cast<size_t>(nc) * std::max(Kp, 1));
      if (amx) amx_begin();
      for (int j0 = b0 * kBlock; j0 < b1 * kBlock; j0 += nc) {
        const int cols = std::min(nc, b1 * kBlock - j0);
        for (int p = 0; p < cols / kPanel; p++)
          pack_b(bp + static_cast<ptrdiff_t>(p) * kPanel * Kp, j0 + p * kPanel, Kp);
        for (int mb = 0; mb < m_blocks; mb++)
          for (int nb = 0; nb < cols / kBlock; nb++) {
            const int i0 = mb * kBlock, jj = j0 + nb * kBlock;
            micro(ap + static_cast<ptrdiff_t>(i0) * Kp,
                  bp + static_cast<ptrdiff_t>(nb) * kBlock * Kp, Kp, tile);
            epilogue(tile, std::min(kBlock, M - i0), std::min(kBlock, N - jj), beta, C, ldc, bias,
                     add, ld_add, i0, jj);
          }
      }
      if (amx) amx_end();
    }
  }
}

// The A packing of gemm_bf16 for an f32 A that is not transposed.
auto f32_rows(const float* A, int lda, int M, int K, bool portable) {
  return [=](uint16_t* dst, int i0, int Kp) {
    if (portable)
      pack_a_block(dst, A, lda, false, M, K, Kp, i0);
    else
      pack_a_block_avx512(dst, A, lda, false, M, K, Kp, i0);
  };
}

}  // namespace

void gemm_bf16_with(Bf16Kernel k, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc,
                    const float* bias, const float* add, int ld_add) {
  gemm_bf16_mixed(k, trans_a, trans_b, M, N, K, A, nullptr, lda, B, nullptr, ldb, beta, C, ldc,
                  bias, add, ld_add);
}

void gemm_bf16_mixed(Bf16Kernel k, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                     const uint16_t* A16, int lda, const float* B, const uint16_t* B16, int ldb,
                     float beta, float* C, int ldc, const float* bias, const float* add,
                     int ld_add) {
  AERO_ASSERT(!(A && A16) && !(B && B16) && !(A16 && trans_a));
  // The portable kernel keeps the portable packing (so that both packings are tested here).
  const bool portable = (k == Bf16Kernel::best ? bf16_kernel() : k) == Bf16Kernel::portable;
  gemm_impl(
      k, M, N, K,
      [&](uint16_t* dst, int i0, int Kp) {
        if (A16 && portable)
          pack_a_block_bf16(dst, A16, lda, M, K, Kp, i0);
        else if (A16)
          pack_a_block_bf16_avx512(dst, A16, lda, M, K, Kp, i0);
        else if (portable)
          pack_a_block(dst, A, lda, trans_a, M, K, Kp, i0);
        else
          pack_a_block_avx512(dst, A, lda, trans_a, M, K, Kp, i0);
      },
      [&](uint16_t* dst, int j0, int Kp) {
        if (B16 && trans_b && portable)
          pack_b_panel_bf16(dst, B16, ldb, N, K, Kp, j0);
        else if (B16 && trans_b)
          pack_b_panel_bf16_avx512(dst, B16, ldb, N, K, Kp, j0);
        else if (B16 && portable)
          pack_b_panel_bf16_n(dst, B16, ldb, N, K, Kp, j0);
        else if (B16)
          pack_b_panel_bf16_n_avx512(dst, B16, ldb, N, K, Kp, j0);
        else if (portable)
          pack_b_panel(dst, B, ldb, trans_b, N, K, Kp, j0);
        else
          pack_b_panel_avx512(dst, B, ldb, trans_b, N, K, Kp, j0);
      },
      beta, C, ldc, bias, add, ld_add);
}

void gemm_bf16_wt(Bf16Kernel k, int M, int N, int K, const float* A, int lda, const uint16_t* W,
                  int ldw, float* C, int ldc) {
  const bool portable = (k == Bf16Kernel::best ? bf16_kernel() : k) == Bf16Kernel::portable;
  gemm_impl(
      k, M, N, K, f32_rows(A, lda, M, K, portable),
      [&](uint16_t* dst, int j0, int Kp) {
        if (portable)
          pack_b_panel_bf16(dst, W, ldw, N, K, Kp, j0);
        else
          pack_b_panel_bf16_avx512(dst, W, ldw, N, K, Kp, j0);
      },
      0.0f, C, ldc, nullptr, nullptr, 0);
}

void gemm_bf16_w(Bf16Kernel k, bool trans_w, int M, int N, int K, const float* A, int lda,
                 const uint16_t* W, int ldw, float beta, float* C, int ldc, const float* bias,
                 const float* add, int ld_add) {
  const bool portable = (k == Bf16Kernel::best ? bf16_kernel() : k) == Bf16Kernel::portable;
  gemm_impl(
      k, M, N, K, f32_rows(A, lda, M, K, portable),
      [&](uint16_t* dst, int j0, int Kp) {
        if (trans_w && portable)
          pack_b_panel_bf16(dst, W, ldw, N, K, Kp, j0);
        else if (trans_w)
          pack_b_panel_bf16_avx512(dst, W, ldw, N, K, Kp, j0);
        else if (portable)
          pack_b_panel_bf16_n(dst, W, ldw, N, K, Kp, j0);
        else
          pack_b_panel_bf16_n_avx512(dst, W, ldw, N, K, Kp, j0);
      },
      beta, C, ldc, bias, add, ld_add);
}

void gemm_bf16_ref(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc, const float* bias,
                   const float* add, int ld_add) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        const float a = trans_a ? A[static_cast<ptrdiff_t>(k) * lda + i]
                                : A[static_cast<ptrdiff_t>(i) * lda + k];
        const float b = trans_b ? B[static_cast<ptrdiff_t>(j) * ldb + k]
                                : B[static_cast<ptrdiff_t>(k) * ldb + j];
        acc += double(from_bf16(to_bf16(a))) * double(from_bf16(to_bf16(b)));
      }
      float* c = C + static_cast<ptrdiff_t>(i) * ldc + j;
      if (beta != 0.0f) acc += double(*c);
      if (bias) acc += bias[j];
      if (add) acc += add[static_cast<ptrdiff_t>(i) * ld_add + j];
      *c = float(acc);
    }
}

void round_to_bf16(const float* x, uint16_t* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] = to_bf16(x[i]);
}

void bf16_to_f32(const uint16_t* x, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] = from_bf16(x[i]);
}

void round_to_bf16_stochastic(const float* x, uint16_t* out, int64_t n, uint64_t seed) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    if ((u & 0x7fffffffu) >= 0x7f800000u) {  // inf and NaN as round-to-nearest does
      out[i] = to_bf16(x[i]);
      continue;
    }
    // splitmix64 of (seed, i): 16 random bits added below the kept ones, then truncated.
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const uint32_t r = static_cast<uint32_t>(z) & 0xffffu;
    const uint32_t v = u + r;
    // A carry into the exponent that reaches infinity keeps the largest finite value instead.
    out[i] = (v & 0x7f800000u) == 0x7f800000u ? static_cast<uint16_t>((u >> 16))
                                              : static_cast<uint16_t>(v >> 16);
  }
}

}  // namespace aero
