#include "kernels/linear.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace aero {

namespace {

// db (OUT) += Σ_n dout (N, OUT): columns split across threads; each sums its columns over all rows.
void bias_backward(float* db, const float* dout, int64_t N, int64_t OUT) {
#pragma omp parallel if (N * OUT > 65536 && !omp_in_parallel())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t o0 = OUT * t / nt, o1 = OUT * (t + 1) / nt;
    for (int64_t n = 0; n < N; n++) {
      const float* d = dout + n * OUT;
#pragma omp simd
      for (int64_t o = o0; o < o1; o++) db[o] += d[o];
    }
  }
}

}  // namespace

void linear_forward(float* out, const float* inp, const float* w, const float* b, int64_t N,
                    int64_t IN, int64_t OUT, const float* residual, bool bf16) {
  if (bf16)
    return gemm_bf16(false, true, int(N), int(OUT), int(IN), inp, int(IN), w, int(IN), 0.0f, out,
                     int(OUT), b, residual, int(OUT));
  // Bias and residual in the product's own pass where the kernel can; else out starts as
  // bias + residual and the product accumulates onto it. (Filling out first costs a write and a
  // read of the whole output more.)
  if ((b || residual) && sgemm_uses_direct(int(N), int(OUT), int(IN)))
    return sgemm_direct(false, true, int(N), int(OUT), int(IN), 1.0f, inp, int(IN), w, int(IN),
                        0.0f, out, int(OUT), b, residual, int(OUT));
  if (b || residual) {
#pragma omp parallel for if (N * OUT > 65536 && !omp_in_parallel())
    for (int64_t n = 0; n < N; n++) {
      float* o = out + n * OUT;
      const float* r = residual ? residual + n * OUT : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < OUT; j++) o[j] = (b ? b[j] : 0.0f) + (r ? r[j] : 0.0f);
    }
  }
  sgemm(false, true, int(N), int(OUT), int(IN), 1.0f, inp, int(IN), w, int(IN),
        b || residual ? 1.0f : 0.0f, out, int(OUT));
}

void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                     const float* w, int64_t N, int64_t IN, int64_t OUT, bool overwrite_dinp,
                     bool bf16) {
  const auto gemm = [bf16](bool ta, bool tb, int M, int Nc, int K, const float* A, int lda,
                           const float* B, int ldb, float beta, float* C, int ldc) {
    if (bf16) return gemm_bf16(ta, tb, M, Nc, K, A, lda, B, ldb, beta, C, ldc);
    sgemm(ta, tb, M, Nc, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  };
  if (dinp)
    gemm(false, false, int(N), int(IN), int(OUT), dout, int(OUT), w, int(IN),
         overwrite_dinp ? 0.0f : 1.0f, dinp, int(IN));
  if (dw)
    gemm(true, false, int(OUT), int(IN), int(N), dout, int(OUT), inp, int(IN), 1.0f, dw, int(IN));
  if (db) bias_backward(db, dout, N, OUT);
}

void linear_forward_xbf16(float* out, const uint16_t* inp, const float* w, const float* b,
                          int64_t N, int64_t IN, int64_t OUT, const float* residual) {
  gemm_bf16_mixed(Bf16Kernel::best, false, true, int(N), int(OUT), int(IN), nullptr, inp, int(IN),
                  w, nullptr, int(IN), 0.0f, out, int(OUT), b, residual, int(OUT));
}

void linear_backward_xbf16(float* dinp, float* dw, float* db, const float* dout,
                           const uint16_t* inp, const float* w, int64_t N, int64_t IN, int64_t OUT,
                           bool overwrite_dinp) {
  linear_backward(dinp, nullptr, db, dout, nullptr, w, N, IN, OUT, overwrite_dinp, /*bf16=*/true);
  if (dw)
    gemm_bf16_mixed(Bf16Kernel::best, true, false, int(OUT), int(IN), int(N), dout, nullptr,
                    int(OUT), nullptr, inp, int(IN), 1.0f, dw, int(IN));
}

void linear_forward_wbf16(float* out, const float* inp, const uint16_t* w, const float* b,
                          int64_t N, int64_t IN, int64_t OUT, const float* residual) {
  gemm_bf16_w(Bf16Kernel::best, /*trans_w=*/true, int(N), int(OUT), int(IN), inp, int(IN), w,
              int(IN), 0.0f, out, int(OUT), b, residual, int(OUT));
}

void linear_backward_wbf16(float* dinp, float* db, const float* dout, const uint16_t* w, int64_t N,
                           int64_t IN, int64_t OUT, bool overwrite_dinp) {
  if (dinp)
    gemm_bf16_w(Bf16Kernel::best, /*trans_w=*/false, int(N), int(IN), int(OUT), dout, int(OUT), w,
                int(IN), overwrite_dinp ? 0.0f : 1.0f, dinp, int(IN));
  if (db) bias_backward(db, dout, N, OUT);
}

void linear_forward_ref(float* out, const float* inp, const float* w, const float* b, int64_t N,
                        int64_t IN, int64_t OUT, const float* residual) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < OUT; o++) {
      double acc = (b ? b[o] : 0.0) + (residual ? residual[n * OUT + o] : 0.0);
      for (int64_t i = 0; i < IN; i++) acc += double(inp[n * IN + i]) * w[o * IN + i];
      out[n * OUT + o] = float(acc);
    }
}

void linear_backward_ref(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                         const float* w, int64_t N, int64_t IN, int64_t OUT) {
  if (dinp)
    for (int64_t n = 0; n < N; n++)
      for (int64_t i = 0; i < IN; i++) {
        double acc = 0;
        for (int64_t o = 0; o < OUT; o++) acc += double(dout[n * OUT + o]) * w[o * IN + i];
        dinp[n * IN + i] += float(acc);
      }
  if (dw)
    for (int64_t o = 0; o < OUT; o++)
      for (int64_t i = 0; i < IN; i++) {
        double acc = 0;
        for (int64_t n = 0; n < N; n++) acc += double(dout[n * OUT + o]) * inp[n * IN + i];
        dw[o * IN + i] += float(acc);
      }
  if (db)
    for (int64_t o = 0; o < OUT; o++) {
      double acc = 0;
      for (int64_t n = 0; n < N; n++) acc += dout[n * OUT + o];
      db[o] += float(acc);
    }
}

void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C) {
#pragma omp parallel for if (N * C > 65536 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++)
    std::memcpy(out + n * C, table + int64_t(ids[n]) * C, sizeof(float) * C);
}

void embedding_forward_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t N,
                            int64_t C) {
#pragma omp parallel for if (N * C > 65536 && !omp_in_parallel())
  for (int64_t n = 0; n < N; n++) bf16_to_f32(table + int64_t(ids[n]) * C, out + n * C, C);
}

void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N,
                        int64_t C) {
  // Split by channels, not rows: two rows with the same id never race.
#pragma omp parallel if (N * C > 65536 && !omp_in_parallel())
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
    for (int64_t n = 0; n < N; n++) {
      float* dst = dtable + int64_t(ids[n]) * C;
      const float* src = dout + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
    }
  }
}

void embedding_backward_ref(float* dtable, const float* dout, const int32_t* ids, int64_t N,
                            int64_t C) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) dtable[int64_t(ids[n]) * C + c] += dout[n * C + c];
}

void token_logits_forward(float* out, const float* base, const float* inp, const float* rows,
                          const int32_t* ids, int64_t N, int64_t V, int64_t C, int64_t n) {
  parallel_range(N, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      std::copy_n(base + r * V, V, out + r * V);
      for (int64_t k = 0; k < n; k++) {
        float d = 0;
        for (int64_t c = 0; c < C; c++) d += inp[r * C + c] * rows[k * C + c];
        out[r * V + ids[k]] = d;
      }
    }
  });
}

void token_logits_backward(float* dbase, float* dinp, float* drows, const float* dout,
                           const float* inp, const float* rows, const int32_t* ids, int64_t N,
                           int64_t V, int64_t C, int64_t n) {
  if (dbase || dinp)
    parallel_range(N, 64, [&](int64_t b, int64_t e) {
      std::vector<float> keep(static_cast<size_t>(n));
      for (int64_t r = b; r < e; r++) {
        const float* g = dout + r * V;
        if (dbase) {
          // Columns ids[k] belong to the rows, not to base: they keep what they held.
          float* d = dbase + r * V;
          for (int64_t k = 0; k < n; k++) keep[size_t(k)] = d[ids[k]];
          for (int64_t j = 0; j < V; j++) d[j] += g[j];
          for (int64_t k = 0; k < n; k++) d[ids[k]] = keep[size_t(k)];
        }
        if (dinp)
          for (int64_t k = 0; k < n; k++)
            for (int64_t c = 0; c < C; c++) dinp[r * C + c] += g[ids[k]] * rows[k * C + c];
      }
    });
  if (drows)
    for (int64_t k = 0; k < n; k++)
      for (int64_t r = 0; r < N; r++) {
        const float g = dout[r * V + ids[k]];
        for (int64_t c = 0; c < C; c++) drows[k * C + c] += g * inp[r * C + c];
      }
}

void token_logits_forward_ref(float* out, const float* base, const float* inp, const float* rows,
                              const int32_t* ids, int64_t N, int64_t V, int64_t C, int64_t n) {
  for (int64_t r = 0; r < N; r++)
    for (int64_t j = 0; j < V; j++) {
      double v = base[r * V + j];
      for (int64_t k = 0; k < n; k++)
        if (ids[k] == j) {
          v = 0;
          for (int64_t c = 0; c < C; c++) v += double(inp[r * C + c]) * rows[k * C + c];
        }
      out[r * V + j] = float(v);
    }
}

}  // namespace aero
