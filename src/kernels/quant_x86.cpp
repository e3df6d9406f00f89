// x86 kernels of qmatmul. Every function carries the target attribute of the instructions it
// uses (the file itself is compiled for the baseline), and quant.cpp calls one only after
// cpu_info() has reported those instructions.
//
// All kernels work on a tile of R rows of W (outputs) by C rows of X (tokens): W's vectors are
// loaded once per step and used C times, X's once and used R times, and the R·C accumulators
// stay in registers until the end of the row, where each is summed horizontally.
//
// GCC 12's AVX-512 headers warn about their own _mm512_undefined_ps() (cvtepi32_ps, reduce_add,
// ...) when inlined; the warning points into the header, so it is silenced for this file.
#if !defined(__clang__)  // clang has no -Wmaybe-uninitialized
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "kernels/quant_kernels.h"

#define AERO_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AERO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define AERO_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define AERO_AVX2 __attribute__((target("avx2,fma")))
#define AERO_AVXVNNI __attribute__((target("avx2,fma,avxvnni")))

namespace aero::qk {
namespace {

constexpr int kTileR = 4, kTileC = 4;
// q8, AVX-512: 3 rows of W by 4 of X (24 accumulators) was the fastest of 2-4 x 1-4 on Zen 5.
constexpr int kQ8TileR = 3, kQ8TileC = 4;
// Bytes ahead of the current W load that the kernels prefetch (W and, 8 times closer, its
// scales). The hardware prefetcher alone left the memory idle while a tile was being
// multiplied: AVX-512 at n = 8 on 1 thread 8 KB ahead gave 1.3-1.9x (2304x768 ... 50257x768, W
// streamed from memory), n = 1 1.05-1.4x; 4 KB helped less, 16-32 KB no more, nor did the T1 or
// NTA hints. AVX-VNNI (forced on Zen 5): 2.5-3x at n = 1 and 8.
constexpr ptrdiff_t kQ8Prefetch = 8192;

template <typename Fn>
using TileTable = Fn[kTileR][kTileC];

// Calls table[R-1][C-1] over the tiles of rows [r0, r1) x [0, n), at most tr x tc, X in chunks
// of `chunk` rows.
template <typename Fn, typename Call>
void for_tiles(const TileTable<Fn>& table, int tr, int tc, int n, int r0, int r1, int chunk,
               Call&& call) {
  for (int j0 = 0; j0 < n; j0 += chunk) {
    const int j1 = j0 + chunk < n ? j0 + chunk : n;
    for (int r = r0; r < r1; r += tr) {
      const int R = r1 - r < tr ? r1 - r : tr;
      for (int j = j0; j < j1; j += tc) {
        const int C = j1 - j < tc ? j1 - j : tc;
        call(table[R - 1][C - 1], r, j);
      }
    }
  }
}

// ---- q8, AVX-512 VNNI. W holds q + 128 (unsigned), X q (signed): vpdpbusd's int32 lane l
// sums 4 bytes of block l of a packed group (quant.h), so 8 of them give each lane the whole
// block, Σ (w + 128) · x, and starting from X's -128 · Σ x leaves exactly Σ w · x. The scales
// are then applied once per group of 16 blocks: one cvt, one mul and one fma per 512 MACs.

using Q8Tile = void (*)(const uint8_t*, const float*, int, const int8_t*, const float*,
                        const int32_t*, float*, int, ptrdiff_t);

// Software prefetch of a weight stream, `pf` bytes ahead of p (0: none).
inline void prefetch_w(const void* p, ptrdiff_t pf) {
  if (pf) _mm_prefetch(static_cast<const char*>(p) + pf, _MM_HINT_T0);
}

template <int R, int C, bool kFull>
AERO_AVX512VNNI inline void q8_group_512(const uint8_t* w, const float* ws, int K, int nb,
                                         const int8_t* xq, const float* xs, const int32_t* xc,
                                         int g0, __m512 (&acc)[R][C], ptrdiff_t pf) {
  const int G = kFull ? kQ8Group : nb - g0;
  const __mmask16 m = kFull ? __mmask16(0xffff) : __mmask16((1u << G) - 1);
  const __mmask64 mb = kFull ? ~__mmask64(0) : (__mmask64(1) << (4 * G)) - 1;
  const ptrdiff_t at = static_cast<ptrdiff_t>(g0) * kQ8Block;
  __m512i d[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) d[i][j] = _mm512_maskz_loadu_epi32(m, xc + j * nb + g0);
#pragma GCC unroll 8
  for (int v = 0; v < kQ8Block / 4; v++) {
    __m512i wv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      prefetch_w(w + i * static_cast<ptrdiff_t>(K) + at + v * 64, pf);
      wv[i] = kFull
                  ? _mm512_loadu_si512(w + i * static_cast<ptrdiff_t>(K) + at + v * 64)
                  : _mm512_maskz_loadu_epi8(mb, w + i * static_cast<ptrdiff_t>(K) + at + v * G * 4);
    }
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512i xv =
          kFull ? _mm512_loadu_si512(xq + j * static_cast<ptrdiff_t>(K) + at + v * 64)
                : _mm512_maskz_loadu_epi8(mb, xq + j * static_cast<ptrdiff_t>(K) + at + v * G * 4);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) d[i][j] = _mm512_dpbusd_epi32(d[i][j], wv[i], xv);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++) {
    prefetch_w(ws + i * nb + g0, pf / 8);
    const __m512 sw = _mm512_maskz_loadu_ps(m, ws + i * nb + g0);
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512 s = _mm512_mul_ps(sw, _mm512_maskz_loadu_ps(m, xs + j * nb + g0));
      acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[i][j]), s, acc[i][j]);
    }
  }
}

// A last group of exactly 8 blocks (cols = 768, 1280, ...): its steps v and v + 4 (32 bytes
// each) share one vector, lanes 8-15 holding the second half of the same 8 blocks, so that no
// vpdpbusd runs half empty. The scales are repeated in both halves; the correction goes once.
AERO_AVX512VNNI inline __m512i load_halves(const void* p) {
  const __m256i* q = static_cast<const __m256i*>(p);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(q)),
                            _mm256_loadu_si256(q + 4), 1);
}

AERO_AVX512VNNI inline __m512 load_scales8_twice(const float* p) {
  const __m512 s = _mm512_castps256_ps512(_mm256_loadu_ps(p));
  return _mm512_shuffle_f32x4(s, s, 0x44);
}

template <int R, int C>
AERO_AVX512VNNI inline void q8_group8_512(const uint8_t* w, const float* ws, int K, int nb,
                                          const int8_t* xq, const float* xs, const int32_t* xc,
                                          int g0, __m512 (&acc)[R][C], ptrdiff_t pf) {
  const ptrdiff_t at = static_cast<ptrdiff_t>(g0) * kQ8Block;
  __m512i d[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) d[i][j] = _mm512_maskz_loadu_epi32(0xff, xc + j * nb + g0);
#pragma GCC unroll 4
  for (int v = 0; v < 4; v++) {
    __m512i wv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      prefetch_w(w + i * static_cast<ptrdiff_t>(K) + at + v * 64, pf);
      wv[i] = load_halves(w + i * static_cast<ptrdiff_t>(K) + at + v * 32);
    }
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512i xv = load_halves(xq + j * static_cast<ptrdiff_t>(K) + at + v * 32);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) d[i][j] = _mm512_dpbusd_epi32(d[i][j], wv[i], xv);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++) {
    prefetch_w(ws + i * nb + g0, pf / 8);
    const __m512 sw = load_scales8_twice(ws + i * nb + g0);
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512 s = _mm512_mul_ps(sw, load_scales8_twice(xs + j * nb + g0));
      acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[i][j]), s, acc[i][j]);
    }
  }
}

template <int R, int C>
AERO_AVX512VNNI void q8_tile_512(const uint8_t* w, const float* ws, int K, const int8_t* xq,
                                 const float* xs, const int32_t* xc, float* y, int ldy,
                                 ptrdiff_t pf) {
  const int nb = K / kQ8Block;
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
  int g0 = 0;
  for (; g0 + kQ8Group <= nb; g0 += kQ8Group)
    q8_group_512<R, C, true>(w, ws, K, nb, xq, xs, xc, g0, acc, pf);
  if (nb - g0 == 8)
    q8_group8_512<R, C>(w, ws, K, nb, xq, xs, xc, g0, acc, pf);
  else if (g0 < nb)
    q8_group_512<R, C, false>(w, ws, K, nb, xq, xs, xc, g0, acc, pf);
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++)
      y[static_cast<ptrdiff_t>(j) * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);
}

// ---- q8, 256 bits: each packed group is read as two halves of up to 8 blocks (one per lane).
// AVX-VNNI as above; AVX2 turns W back into signed q and uses the sign trick (|w| unsigned, x
// given w's sign; |w|, |x| <= 127, so vpmaddubsw cannot saturate: 2 · 127 · 127 < 32768) and
// needs no correction. A macro because a target attribute cannot depend on a template argument.

AERO_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AERO_AVX2 inline __m256i lanes_below(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Σ over each 4 bytes of (u - 128) · x, u = q + 128.
AERO_AVX2 inline __m256i q8_dot_avx2(__m256i u, __m256i x, __m256i bias, __m256i ones) {
  const __m256i q = _mm256_xor_si256(u, bias);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(x, q)), ones);
}

#define AERO_Q8_TILE_256(NAME, TARGET, INIT, DOT)                                                  \
  template <int R, int C>                                                                          \
  TARGET void NAME(const uint8_t* w, const float* ws, int K, const int8_t* xq, const float* xs,    \
                   const int32_t* xc, float* y, int ldy, ptrdiff_t pf) {                           \
    const int nb = K / kQ8Block;                                                                   \
    const __m256i ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8(-128);                      \
    (void)ones;                                                                                    \
    (void)bias;                                                                                    \
    __m256 acc[R][C];                                                                              \
    for (int i = 0; i < R; i++)                                                                    \
      for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();                                 \
    for (int g0 = 0; g0 < nb; g0 += kQ8Group) {                                                    \
      const int G = nb - g0 < kQ8Group ? nb - g0 : kQ8Group;                                       \
      for (int h = 0; h * 8 < G; h++) {                                                            \
        const int L = G - h * 8 < 8 ? G - h * 8 : 8; /* blocks in this half */                     \
        const __m256i m = lanes_below(L);                                                          \
        const int b0 = g0 + h * 8;                                                                 \
        const ptrdiff_t at = static_cast<ptrdiff_t>(g0) * kQ8Block + h * 32;                       \
        __m256i d[R][C];                                                                           \
        for (int i = 0; i < R; i++)                                                                \
          for (int j = 0; j < C; j++) d[i][j] = INIT;                                              \
        for (int v = 0; v < kQ8Block / 4; v++) {                                                   \
          __m256i wv[R];                                                                           \
          for (int i = 0; i < R; i++) {                                                            \
            if (h == 0)                                                                            \
              prefetch_w(w + i * static_cast<ptrdiff_t>(K) + g0 * kQ8Block + v * 64, pf);          \
            wv[i] = _mm256_maskload_epi32(                                                         \
                reinterpret_cast<const int*>(w + i * static_cast<ptrdiff_t>(K) + at + v * G * 4),  \
                m);                                                                                \
          }                                                                                        \
          for (int j = 0; j < C; j++) {                                                            \
            const __m256i xv = _mm256_maskload_epi32(                                              \
                reinterpret_cast<const int*>(xq + j * static_cast<ptrdiff_t>(K) + at + v * G * 4), \
                m);                                                                                \
            for (int i = 0; i < R; i++) d[i][j] = DOT;                                             \
          }                                                                                        \
        }                                                                                          \
        for (int i = 0; i < R; i++) {                                                              \
          if (h == 0) prefetch_w(ws + i * nb + g0, pf / 8);                                        \
          const __m256 sw = _mm256_maskload_ps(ws + i * nb + b0, m);                               \
          for (int j = 0; j < C; j++) {                                                            \
            const __m256 s = _mm256_mul_ps(sw, _mm256_maskload_ps(xs + j * nb + b0, m));           \
            acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i][j]), s, acc[i][j]);                \
          }                                                                                        \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
    for (int i = 0; i < R; i++)                                                                    \
      for (int j = 0; j < C; j++) y[static_cast<ptrdiff_t>(j) * ldy + i] = hsum256(acc[i][j]);     \
  }

AERO_Q8_TILE_256(q8_tile_vnni256, AERO_AVXVNNI, _mm256_maskload_epi32(xc + j * nb + b0, m),
                 _mm256_dpbusd_avx_epi32(d[i][j], wv[i], xv))
AERO_Q8_TILE_256(q8_tile_avx2, AERO_AVX2, _mm256_setzero_si256(),
                 _mm256_add_epi32(d[i][j], q8_dot_avx2(wv[i], xv, bias, ones)))
#undef AERO_Q8_TILE_256

#define AERO_TILE_TABLE(T)                                                      \
  {                                                                             \
    {T<1, 1>, T<1, 2>, T<1, 3>, T<1, 4>}, {T<2, 1>, T<2, 2>, T<2, 3>, T<2, 4>}, \
        {T<3, 1>, T<3, 2>, T<3, 3>, T<3, 4>}, {                                 \
      T<4, 1>, T<4, 2>, T<4, 3>, T<4, 4>                                        \
    }                                                                           \
  }

// pf: prefetch distance, used on the first pass over each tile of W (the later passes, for
// more rows of X, find it in L1).
void q8_run(const TileTable<Q8Tile>& table, int tr, int tc, const QMatrix& w, const Q8Acts& x,
            int n, float* y, int r0, int r1, ptrdiff_t pf = 0) {
  const int K = w.cols, nb = K / kQ8Block;
  // X's bytes per row: q, and s and c (8 bytes per block).
  const int chunk = x_chunk_rows(n, K + K / 4);
  for_tiles(table, tr, tc, n, r0, r1, chunk, [&](Q8Tile tile, int r, int j) {
    tile(w.q.data() + static_cast<ptrdiff_t>(r) * K,
         w.scale.data() + static_cast<ptrdiff_t>(r) * nb, K, x.q + static_cast<ptrdiff_t>(j) * K,
         x.s + static_cast<ptrdiff_t>(j) * nb, x.c + static_cast<ptrdiff_t>(j) * nb,
         y + static_cast<ptrdiff_t>(j) * w.rows + r, w.rows, j % chunk == 0 ? pf : 0);
  });
}

// ---- f32 and bf16 W times f32 X: bf16 is widened to f32 by a 16-bit shift, then FMA.

AERO_AVX512 inline __m512 load16(const float* p, __mmask16 m) {
  return _mm512_maskz_loadu_ps(m, p);
}
AERO_AVX512 inline __m512 load16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

template <typename T, int R, int C>
AERO_AVX512 void fx_tile_512(const T* w, int K, const float* x, float* y, int ldy, ptrdiff_t pf) {
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (K - k)) - 1);
    __m512 wv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      prefetch_w(w + static_cast<ptrdiff_t>(i) * K + k, pf);
      wv[i] = load16(w + static_cast<ptrdiff_t>(i) * K + k, m);
    }
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + static_cast<ptrdiff_t>(j) * K + k);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++)
      y[static_cast<ptrdiff_t>(j) * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);
}

AERO_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
AERO_AVX2 inline __m256 load8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}
inline float widen(float v) { return v; }
inline float widen(uint16_t v) { return bf16_to_f32(v); }

template <typename T, int R, int C>
AERO_AVX2 void fx_tile_avx2(const T* w, int K, const float* x, float* y, int ldy, ptrdiff_t pf) {
  __m256 acc[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) acc[i][j] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      prefetch_w(w + static_cast<ptrdiff_t>(i) * K + k, pf);
      wv[i] = load8(w + static_cast<ptrdiff_t>(i) * K + k);
    }
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m256 xv = _mm256_loadu_ps(x + static_cast<ptrdiff_t>(j) * K + k);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) acc[i][j] = _mm256_fmadd_ps(wv[i], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) {
      float s = hsum256(acc[i][j]);
      for (int kk = k; kk < K; kk++)
        s += widen(w[static_cast<ptrdiff_t>(i) * K + kk]) * x[static_cast<ptrdiff_t>(j) * K + kk];
      y[static_cast<ptrdiff_t>(j) * ldy + i] = s;
    }
}

// vdpbf16ps: each f32 lane adds the products of 2 bf16 pairs (exact), 32 MACs per instruction
// against 16 for widen + FMA: 2.2x faster in L1 on Zen 5.
// pf: bytes ahead to prefetch W on the first pass over the tile (as q8_run's), else 0.
template <int R, int C>
AERO_AVX512BF16 void bf16_tile_dp(const uint16_t* w, int K, const uint16_t* x, float* y, int ldy,
                                  ptrdiff_t pf) {
  __m512 acc[R][C];
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) acc[i][j] = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 32) {
    const __mmask32 m = K - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (K - k)) - 1;
    __m512bh wv[R];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
      prefetch_w(w + static_cast<ptrdiff_t>(i) * K + k, pf);
      wv[i] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + static_cast<ptrdiff_t>(i) * K + k);
    }
#pragma GCC unroll 4
    for (int j = 0; j < C; j++) {
      const __m512bh xv =
          (__m512bh)_mm512_maskz_loadu_epi16(m, x + static_cast<ptrdiff_t>(j) * K + k);
#pragma GCC unroll 4
      for (int i = 0; i < R; i++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], wv[i], xv);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; i++)
#pragma GCC unroll 4
    for (int j = 0; j < C; j++)
      y[static_cast<ptrdiff_t>(j) * ldy + i] = _mm512_reduce_add_ps(acc[i][j]);
}

using Bf16DpTile = void (*)(const uint16_t*, int, const uint16_t*, float*, int, ptrdiff_t);

// One token: W row by row (one sequential stream) with 4 independent accumulators, each cache
// line of W prefetched kQ8Prefetch ahead (without it one thread read W at ~80% of the
// bandwidth, the other formats' kernels at full speed).
AERO_AVX512BF16 void bf16_gemv_dp(const uint16_t* w, int K, const uint16_t* x, float* y, int r0,
                                  int r1) {
  for (int r = r0; r < r1; r++) {
    const uint16_t* wr = w + static_cast<ptrdiff_t>(r) * K;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    int k = 0;
    for (; k + 128 <= K; k += 128)
#pragma GCC unroll 4
      for (int u = 0; u < 4; u++) {
        prefetch_w(wr + k + 32 * u, kQ8Prefetch);
        acc[u] = _mm512_dpbf16_ps(acc[u], (__m512bh)_mm512_loadu_si512(wr + k + 32 * u),
                                  (__m512bh)_mm512_loadu_si512(x + k + 32 * u));
      }
    for (; k < K; k += 32) {
      const __mmask32 m = K - k >= 32 ? ~__mmask32(0) : (__mmask32(1) << (K - k)) - 1;
      acc[0] = _mm512_dpbf16_ps(acc[0], (__m512bh)_mm512_maskz_loadu_epi16(m, wr + k),
                                (__m512bh)_mm512_maskz_loadu_epi16(m, x + k));
    }
    y[r] = _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  }
}

template <typename T>
using FxTile = void (*)(const T*, int, const float*, float*, int, ptrdiff_t);

// tr: rows of W per tile; f32 with one token reads one row at a time (one sequential stream for
// the prefetcher: 67% of the read bandwidth against 55-59% with 4 rows).
template <typename T>
void fx_run(const TileTable<FxTile<T>>& table, int tr, const T* wdata, const QMatrix& w,
            const float* x, int n, float* y, int r0, int r1) {
  const int K = w.cols, chunk = x_chunk_rows(n, 4 * K);
  for_tiles(table, tr, kTileC, n, r0, r1, chunk, [&](FxTile<T> tile, int r, int j) {
    tile(wdata + static_cast<ptrdiff_t>(r) * K, K, x + static_cast<ptrdiff_t>(j) * K,
         y + static_cast<ptrdiff_t>(j) * w.rows + r, w.rows, j % chunk == 0 ? kQ8Prefetch : 0);
  });
}

// X rows quantized and packed as quant.cpp's quantize_acts does it, bit for bit: the same
// scale = amax / 127 and inv = 1 / scale, x · inv rounded half to even by vcvtps2dq (MXCSR's
// default mode, as nearbyint), then each group's 4-byte pieces transposed into place.
AERO_AVX512 void q8_quantize_rows_512(const float* x, int K, int r0, int r1, int8_t* q, float* s,
                                      int32_t* c, bool plain) {
  const int nb = K / kQ8Block;
  for (int r = r0; r < r1; r++) {
    const float* xr = x + static_cast<ptrdiff_t>(r) * K;
    int8_t* qr = q + static_cast<ptrdiff_t>(r) * K;
    for (int g0 = 0; g0 < nb; g0 += kQ8Group) {
      const int G = nb - g0 < kQ8Group ? nb - g0 : kQ8Group;
      alignas(64) int32_t tmp[kQ8Group][kQ8Block / 4];  // block l's 32 int8
      for (int l = 0; l < G; l++) {
        const int b = g0 + l;
        const __m512 a0 = _mm512_loadu_ps(xr + b * kQ8Block);
        const __m512 a1 = _mm512_loadu_ps(xr + b * kQ8Block + 16);
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a0), _mm512_abs_ps(a1)));
        const float scale = amax / 127.0f;
        const float inv = scale > 0 ? 1.0f / scale : 0.0f;
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(a0, _mm512_set1_ps(inv)));
        const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(a1, _mm512_set1_ps(inv)));
        s[static_cast<ptrdiff_t>(r) * nb + b] = scale;
        c[static_cast<ptrdiff_t>(r) * nb + b] =
            -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp[l]), _mm512_cvtepi32_epi8(q0));
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp[l]) + 1, _mm512_cvtepi32_epi8(q1));
      }
      int8_t* dst = qr + static_cast<ptrdiff_t>(g0) * kQ8Block;
      if (plain) {
        std::memcpy(dst, tmp, static_cast<size_t>(G) * kQ8Block);
        continue;
      }
      for (int v = 0; v < kQ8Block / 4; v++)
        for (int l = 0; l < G; l++) std::memcpy(dst + (v * G + l) * 4, &tmp[l][v], 4);
    }
  }
}

}  // namespace

void q8_quantize_rows_avx512(const float* x, int K, int r0, int r1, int8_t* q, float* s, int32_t* c,
                             bool plain) {
  q8_quantize_rows_512(x, K, r0, r1, q, s, c, plain);
}

void q8_avx512(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<Q8Tile> table = AERO_TILE_TABLE(q8_tile_512);
  // One token: one row of W at a time, a single stream (26-27 GB/s on one thread against 23-24),
  // called directly (inlined) rather than through the tile table.
  if (n == 1) {
    const int K = w.cols, nb = K / kQ8Block;
    for (int r = r0; r < r1; r++)
      q8_tile_512<1, 1>(w.q.data() + static_cast<ptrdiff_t>(r) * K,
                        w.scale.data() + static_cast<ptrdiff_t>(r) * nb, K, x.q, x.s, x.c, y + r,
                        w.rows, kQ8Prefetch);
    return;
  }
  q8_run(table, kQ8TileR, kQ8TileC, w, x, n, y, r0, r1, kQ8Prefetch);
}

void q8_avx_vnni(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<Q8Tile> table = AERO_TILE_TABLE(q8_tile_vnni256);
  q8_run(table, 2, 2, w, x, n, y, r0, r1, kQ8Prefetch);
}

void q8_avx2(const QMatrix& w, const Q8Acts& x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<Q8Tile> table = AERO_TILE_TABLE(q8_tile_avx2);
  q8_run(table, 2, 2, w, x, n, y, r0, r1, kQ8Prefetch);
}

#define AERO_FX_TABLE(T, TY)                                    \
  {                                                             \
    {T<TY, 1, 1>, T<TY, 1, 2>, T<TY, 1, 3>, T<TY, 1, 4>},       \
        {T<TY, 2, 1>, T<TY, 2, 2>, T<TY, 2, 3>, T<TY, 2, 4>},   \
        {T<TY, 3, 1>, T<TY, 3, 2>, T<TY, 3, 3>, T<TY, 3, 4>}, { \
      T<TY, 4, 1>, T<TY, 4, 2>, T<TY, 4, 3>, T<TY, 4, 4>        \
    }                                                           \
  }

void f32_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<FxTile<float>> table = AERO_FX_TABLE(fx_tile_512, float);
  fx_run(table, n == 1 ? 1 : kTileR, w.f32_data(), w, x, n, y, r0, r1);
}

void f32_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<FxTile<float>> table = AERO_FX_TABLE(fx_tile_avx2, float);
  fx_run(table, n == 1 ? 1 : kTileR, w.f32_data(), w, x, n, y, r0, r1);
}

void bf16_avx512(const QMatrix& w, const float* x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<FxTile<uint16_t>> table = AERO_FX_TABLE(fx_tile_512, uint16_t);
  fx_run(table, kTileR, w.bf16.data(), w, x, n, y, r0, r1);
}

void bf16_avx512_dp(const QMatrix& w, const uint16_t* x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<Bf16DpTile> table = AERO_TILE_TABLE(bf16_tile_dp);
  const int K = w.cols;
  if (n == 1) return bf16_gemv_dp(w.bf16.data(), K, x, y, r0, r1);
  const int chunk = x_chunk_rows(n, 2 * K);
  for_tiles(table, kTileR, kTileC, n, r0, r1, chunk, [&](Bf16DpTile tile, int r, int j) {
    tile(w.bf16.data() + static_cast<ptrdiff_t>(r) * K, K, x + static_cast<ptrdiff_t>(j) * K,
         y + static_cast<ptrdiff_t>(j) * w.rows + r, w.rows, j % chunk == 0 ? kQ8Prefetch : 0);
  });
}

void bf16_avx2(const QMatrix& w, const float* x, int n, float* y, int r0, int r1) {
  static constexpr TileTable<FxTile<uint16_t>> table = AERO_FX_TABLE(fx_tile_avx2, uint16_t);
  fx_run(table, kTileR, w.bf16.data(), w, x, n, y, r0, r1);
}

}  // namespace aero::qk
