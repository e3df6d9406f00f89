// q8 products on AMX int8 tiles (quant_kernels.h): Y (n, rows) = X (n, K) · Wᵀ for prefill-sized
// n, with qmatmul's q8 contract. X comes quantized per block of 32 exactly as for the other q8
// kernels (int8, a scale, and c = -128 · Σ q), stored row by row in order (quant.cpp). W's rows (q
// + 128, packed for vpdpbusd) are repacked per call, 32 output columns at a time, into the B-tile
// layout: per block, 8 rows of 64 bytes, row r holding for each of 16 columns the bytes k = 4r ..
// 4r + 3. One TDPBSUD per block and 16 x 16 tile gives each block's exact integer dot product of
// signed x and unsigned q + 128; then, as the avx512-vnni kernel does, acc += float(dot + c) · (ws
// · xs), block after block (a different summation order from that kernel's, so not its bits).
//
// The tile intrinsics are asm statements that do not tell the compiler which memory they read
// or write; the clobbers order them against the packing and the epilogue. GCC 12's AVX-512
// headers warn about their own _mm512_undefined_ps() when inlined (as in gemm_bf16.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/cpu.h"
#include "kernels/amx_tiles.h"
#include "kernels/quant_kernels.h"

#define AERO_AMX_INT8 __attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-int8")))

namespace aero::qk {
namespace {

constexpr int kTile = 16;          // rows and columns of a C tile
constexpr int kStrip = 2 * kTile;  // output columns per packed strip of W
constexpr int kTileBytes = 512;    // a B tile: 8 rows of 64 bytes (one block of 16 columns)
static_assert(kStrip == kQ8AmxRows, "X's rows are padded to whole row tiles of kStrip");

// tmm0-3: the 2 x 2 C tiles (16 x 16 int32); tmm4-5: 16 rows of X, one block (32 bytes) each;
// tmm6-7: the block of the strip's two halves (8 rows of 16 columns x 4 bytes).
AERO_AMX_INT8 void tiles_begin() {
  AmxTileConfig cfg;
  for (int t = 0; t < 4; t++) cfg.colsb[t] = 64, cfg.rows[t] = kTile;
  for (int t = 4; t < 6; t++) cfg.colsb[t] = kQ8Block, cfg.rows[t] = kTile;
  for (int t = 6; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = kQ8Block / 4;
  _tile_loadconfig(&cfg);
}

// Output columns [o0, o0 + kStrip) of W into b (per block, the two B tiles) and s (per block,
// their kStrip scales); columns past W's rows get scale 0.
void pack_strip(const QMatrix& w, int o0, uint8_t* b, float* s) {
  const int K = w.cols, nb = K / kQ8Block;
  for (int l = 0; l < nb; l++) {
    const int g0 = l / kQ8Group * kQ8Group, G = std::min(kQ8Group, nb - g0);
    uint8_t* tiles = b + static_cast<ptrdiff_t>(l) * 2 * kTileBytes;
    for (int c = 0; c < kStrip; c++) {
      const int o = o0 + c;
      uint8_t* dst = tiles + (c / kTile) * kTileBytes + (c % kTile) * 4;
      s[l * kStrip + c] = o < w.rows ? w.scale[static_cast<size_t>(o) * nb + l] : 0.0f;
      if (o >= w.rows) {
        for (int r = 0; r < kQ8Block / 4; r++) std::memset(dst + r * 64, 0, 4);
        continue;
      }
      // Block l's quad r sits at (r · G + l - g0) · 4 within its group of the packed row.
      const uint8_t* src = w.q.data() + static_cast<size_t>(o) * K + g0 * kQ8Block + (l - g0) * 4;
      for (int r = 0; r < kQ8Block / 4; r++) std::memcpy(dst + r * 64, src + r * G * 4, 4);
    }
  }
}

// Rows [0, n) of the strip's columns [o0, o0 + cols): xq holds X's rows rounded up to kStrip.
AERO_AMX_INT8 void strip(const int8_t* xq, const float* xs, const int32_t* xc, int n, int K,
                         const uint8_t* b, const float* s, float* y, int ldy, int o0, int cols) {
  const int nb = K / kQ8Block;
  alignas(64) int32_t dot[kStrip][kStrip];
  alignas(64) float acc[kStrip][kStrip];
  for (int i0 = 0; i0 < n; i0 += kStrip) {
    const int rows = std::min(kStrip, n - i0);
    const int8_t* a = xq + static_cast<ptrdiff_t>(i0) * K;
    for (int l = 0; l < nb; l++) {
      __asm__ volatile("" ::: "memory");
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      _tile_loadd(4, a + l * kQ8Block, K);
      _tile_loadd(5, a + static_cast<ptrdiff_t>(kTile) * K + l * kQ8Block, K);
      _tile_loadd(6, b + static_cast<ptrdiff_t>(l) * 2 * kTileBytes, 64);
      _tile_loadd(7, b + static_cast<ptrdiff_t>(l) * 2 * kTileBytes + kTileBytes, 64);
      _tile_dpbsud(0, 4, 6);
      _tile_dpbsud(1, 4, 7);
      _tile_dpbsud(2, 5, 6);
      _tile_dpbsud(3, 5, 7);
      _tile_stored(0, &dot[0][0], kStrip * 4);
      _tile_stored(1, &dot[0][kTile], kStrip * 4);
      _tile_stored(2, &dot[kTile][0], kStrip * 4);
      _tile_stored(3, &dot[kTile][kTile], kStrip * 4);
      __asm__ volatile("" ::: "memory");
      const __m512 w0 = _mm512_loadu_ps(s + l * kStrip),
                   w1 = _mm512_loadu_ps(s + l * kStrip + kTile);
      for (int i = 0; i < rows; i++) {
        const ptrdiff_t at = static_cast<ptrdiff_t>(i0 + i) * nb + l;
        const __m512i c = _mm512_set1_epi32(xc[at]);
        const __m512 x = _mm512_set1_ps(xs[at]);
        const __m512 d0 = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_load_si512(dot[i]), c));
        const __m512 d1 =
            _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_load_si512(dot[i] + kTile), c));
        const __m512 s0 = _mm512_mul_ps(w0, x), s1 = _mm512_mul_ps(w1, x);
        if (l == 0) {
          _mm512_store_ps(acc[i], _mm512_mul_ps(d0, s0));
          _mm512_store_ps(acc[i] + kTile, _mm512_mul_ps(d1, s1));
        } else {
          _mm512_store_ps(acc[i], _mm512_fmadd_ps(d0, s0, _mm512_load_ps(acc[i])));
          _mm512_store_ps(acc[i] + kTile, _mm512_fmadd_ps(d1, s1, _mm512_load_ps(acc[i] + kTile)));
        }
      }
    }
    for (int i = 0; i < rows; i++)
      std::memcpy(y + static_cast<ptrdiff_t>(i0 + i) * ldy + o0, acc[i], sizeof(float) * cols);
  }
}

AERO_AMX_INT8 void tiles_end() { _tile_release(); }

template <typename T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

bool q8_amx_usable() {
  const CpuInfo& c = cpu_info();
  return c.avx512f && c.avx512bw && c.avx512vl && c.amx_tile && c.amx_int8 && request_amx();
}

void q8_amx(const QMatrix& w, const Q8Acts& x, int n, float* y) {
  const int K = w.cols, nb = K / kQ8Block;
  const int strips = (w.rows + kStrip - 1) / kStrip;
  const bool parallel = !omp_in_parallel() && omp_get_max_threads() > 1 && strips > 1;
#pragma omp parallel if (parallel)
  {
    thread_local std::vector<uint8_t> packed;
    thread_local std::vector<float> scales;
    uint8_t* b = grow(packed, static_cast<size_t>(nb) * 2 * kTileBytes);
    float* sc = grow(scales, static_cast<size_t>(nb) * kStrip);
    tiles_begin();
#pragma omp for schedule(static)
    for (int p = 0; p < strips; p++) {
      const int o0 = p * kStrip;
      pack_strip(w, o0, b, sc);
      strip(x.q, x.s, x.c, n, K, b, sc, y, w.rows, o0, std::min(kStrip, w.rows - o0));
    }
    tiles_end();
  }
}

}  // namespace aero::qk
