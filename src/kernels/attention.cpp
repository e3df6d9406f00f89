#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "kernels/vec.h"

namespace aero {
namespace {

// Query rows per block. Under a causal mask a block only multiplies the keys it can see, so
// smaller blocks skip more work but make more (smaller) gemm calls.
constexpr int64_t kQB = 32;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Horizontal sum and max as a tree of shuffles (4 steps for 16 lanes) rather than a chain of
// 15 dependent scalar operations, which was a sixth of a short row's softmax.
#if defined(__AVX512F__)
template <typename Op>
inline float reduce16(fvec v, Op op) {
  v = op(v, __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  v = op(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11));
  v = op(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
  v = op(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14));
  return v[0];
}
inline float hsum(fvec v) {
  return reduce16(v, [](fvec a, fvec b) { return a + b; });
}
inline float hmax(fvec v) {
  return reduce16(v, [](fvec a, fvec b) { return a > b ? a : b; });
}
#else
inline float hsum(fvec v) {
  float s = 0.0f;
  for (int i = 0; i < kW; i++) s += v[i];
  return s;
}
inline float hmax(fvec v) {
  float m = v[0];
  for (int i = 1; i < kW; i++) m = std::max(m, v[i]);
  return m;
}
#endif
// Lane i holds base + i.
inline ivec lane_index(int32_t base) {
  static const ivec iota = [] {
    ivec v;
    for (int i = 0; i < kW; i++) v[i] = i;
    return v;
  }();
  return iota + base;
}

// exp(x) for x <= 0, exactly 0 below -87 (and for -inf): masked keys get no weight at all.
inline fvec exp_nonpos(fvec x) { return x < -87.0f ? splat(0.0f) : exp_v(x); }

// Keys row i of a (b, h) head may see: j < limit, and key_mask[j] != 0 when given.
inline int64_t key_limit(const AttentionArgs& a, int64_t i, int64_t n_keys) {
  if (!a.causal) return n_keys;
  return std::clamp<int64_t>(i + (a.Tk - a.Tq) + 1, 0, n_keys);
}

// Keys a block of rows [i0, i1) needs (the union of their limits).
inline int64_t block_keys(const AttentionArgs& a, int64_t i1) { return key_limit(a, i1 - 1, a.Tk); }

inline uint64_t drop_index(const AttentionArgs& a, int64_t b, int64_t h, int64_t i) {
  return uint64_t(((b * a.NH + h) * a.Tq + i) * a.Tk);
}

// Row stride of the score blocks: a multiple of 16 floats (of kW), so that the row loops run
// whole vectors (a scalar tail of exp() would cost as much as the vector body).
inline int64_t padded(int64_t n) { return attention_weights_ld(n); }

// Scores of one row (scale·q·kᵀ in s[0, limit)) -> masked scores over the padded row [0, L):
// bias added, padding keys and j >= limit set to -inf. Returns the row max (-inf if every
// key is masked).
inline float mask_row(float* s, int64_t L, const float* bias_row, const int32_t* kmask,
                      int64_t limit) {
  if (bias_row)
#pragma omp simd
    for (int64_t j = 0; j < limit; j++) s[j] += bias_row[j];
  if (kmask)
#pragma omp simd
    for (int64_t j = 0; j < limit; j++) s[j] = kmask[j] ? s[j] : -kInf;
  fvec m = splat(-kInf);
  const int64_t whole = limit / kW * kW;  // vectors of keys that are all seen
  for (int64_t j = 0; j < whole; j += kW) {
    const fvec x = loadv(s + j);
    m = m > x ? m : x;
  }
  for (int64_t j = whole; j < L; j += kW) {
    fvec x = lane_index(int32_t(j)) < int32_t(limit) ? loadv(s + j) : splat(-kInf);
    storev(s + j, x);
    m = m > x ? m : x;
  }
  return hmax(m);
}

// p[j] *= keep(j) / (1 - p) with the counter-based mask.
inline void dropout_row(float* p, int64_t n, uint64_t seed, uint64_t base, float prob) {
  float keep_scale = 1.0f / (1.0f - prob);
#pragma omp simd
  for (int64_t j = 0; j < n; j++)
    p[j] *= hash_uniform(seed, base + uint64_t(j)) >= prob ? keep_scale : 0.0f;
}

// dst (HS, ld) = the first T rows of src (row stride C) transposed: OpenBLAS multiplies
// Q · Kᵀ ~1.4x faster with Kᵀ stored than with K transposed on the fly (at 32 x 256 x 64).
void transpose_head(float* dst, int64_t ld, const float* src, int64_t C, int64_t T, int64_t HS) {
  const int64_t T0 = T / kW * kW, HS0 = HS / kW * kW;
  for (int64_t t = 0; t < T0; t += kW)  // whole register blocks
    for (int64_t c = 0; c < HS0; c += kW) transpose_block(dst + c * ld + t, ld, src + t * C + c, C);
  for (int64_t c = 0; c < HS; c++)  // the edges
    for (int64_t t = c < HS0 ? T0 : 0; t < T; t++) dst[c * ld + t] = src[t * C + c];
}

// Asks for the cache lines of rows [0, rows) x [0, n) floats of a head (row stride ld), so that
// the next head's operands arrive while this one computes: in a training step they were last
// touched long before (char-small's step 23.2 -> 22.9 ms, one thread, two parts).
inline void prefetch_head(const float* p, int64_t rows, int64_t ld, int64_t n) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < n; c += 16) __builtin_prefetch(p + r * ld + c);
}

// The (b, h) pairs of one task: all batches of one head when dbias is accumulated (so no two
// threads add into the same bias gradient, in the same order for any thread count), else one.
struct Tasks {
  int64_t n, per_task_b;
  Tasks(const AttentionArgs& a, bool by_head)
      : n(by_head ? a.NH : a.B * a.NH), per_task_b(by_head ? a.B : 1) {}
};

// Heads [h0, h1) of attention_row_forward: scores q·k of each cache row, softmax, then the
// sum of V weighted. For one query this beats attention_forward's path (K transposed per head,
// then two gemm calls), which took ~20% of a q8 decode step.
void attention_row_heads(float* out, const float* q, const float* K, const float* V, int Tk, int HS,
                         size_t C, float scale, const float* bias, int h0, int h1) {
  thread_local std::vector<float> scores;
  const size_t T = size_t(Tk), nh = size_t(h1 - h0);
  if (scores.size() < nh * T) scores.resize(nh * T);
  float* S = scores.data();  // (nh, Tk)
  const size_t c0 = size_t(h0) * size_t(HS);
  for (size_t t = 0; t < T; t++) {
    const float* kt = K + t * C + c0;
    for (size_t h = 0; h < nh; h++) {
      const float *qh = q + c0 + h * size_t(HS), *kh = kt + h * size_t(HS);
      float d = 0.0f;
#pragma omp simd reduction(+ : d)
      for (int c = 0; c < HS; c++) d += qh[c] * kh[c];
      S[h * T + t] = d * scale;
    }
  }
  if (bias)
    for (size_t h = 0; h < nh; h++) {
      const float* bh = bias + (size_t(h0) + h) * T;
#pragma omp simd
      for (size_t t = 0; t < T; t++) S[h * T + t] += bh[t];
    }
  for (size_t h = 0; h < nh; h++) softmax_forward(S + h * T, S + h * T, 1, Tk);
  float* o = out + c0;
  const size_t width = nh * size_t(HS);
  std::fill(o, o + width, 0.0f);
  for (size_t t = 0; t < T; t++) {
    const float* vt = V + t * C + c0;
    for (size_t h = 0; h < nh; h++) {
      const float p = S[h * T + t];
      float* oh = o + h * size_t(HS);
      const float* vh = vt + h * size_t(HS);
#pragma omp simd
      for (int c = 0; c < HS; c++) oh[c] += p * vh[c];
    }
  }
}

}  // namespace

void attention_row_forward(float* out, const float* q, const float* K, const float* V, int Tk,
                           int NH, int HS, float scale, const float* bias) {
  const size_t C = size_t(NH) * size_t(HS);
  if (int64_t(NH) * Tk * HS > (1 << 17) && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel
    {
      const int nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int h0 = NH * t / nt, h1 = NH * (t + 1) / nt;
      if (h0 < h1) attention_row_heads(out, q, K, V, Tk, HS, C, scale, bias, h0, h1);
    }
  } else {
    attention_row_heads(out, q, K, V, Tk, HS, C, scale, bias, 0, NH);
  }
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionArgs& a) {
  const int64_t C = a.NH * a.HS, B = a.B, Tq = a.Tq, Tk = a.Tk, NH = a.NH, HS = a.HS;
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t qb = std::min(kQB, Tq);
  const int64_t ld = padded(Tk), per_thread = qb * ld + HS * ld;
  // Kept per calling thread, not allocated and zeroed per call: small calls (a diffusion step's
  // block of queries) come often. Nothing is read before it is written.
  thread_local std::vector<float> kept;
  if (kept.size() < size_t(nt * per_thread)) kept.resize(size_t(nt * per_thread));
  float* const scratch = kept.data();  // the team's threads share the calling thread's buffer
  gemm_info();  // loads the BLAS backend here, never inside the parallel region
  const bool par = B * NH > 1 && B * NH * Tq * Tk * HS > (1 << 16);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (par)
  for (int64_t task = 0; task < B * NH; task++) {
    const int64_t b = task / NH, h = task % NH;
    if (task + 1 < B * NH) {  // the next head's operands
      const int64_t nb = (task + 1) / NH, nh = (task + 1) % NH;
      prefetch_head(q + nb * Tq * C + nh * HS, Tq, C, HS);
      for (const float* t : {k, v}) prefetch_head(t + nb * Tk * C + nh * HS, Tk, C, HS);
    }
    float* S = scratch + omp_get_thread_num() * per_thread;  // (qb, ld)
    float* KT = S + qb * ld;                                 // (HS, ld)
    const float* qh = q + b * Tq * C + h * HS;               // rows of C floats
    const float* kh = k + b * Tk * C + h * HS;
    const float* vh = v + b * Tk * C + h * HS;
    float* oh = out + b * Tq * C + h * HS;
    float* lh = lse ? lse + (b * NH + h) * Tq : nullptr;
    const int32_t* kmask = a.key_mask ? a.key_mask + b * Tk : nullptr;
    transpose_head(KT, ld, kh, C, block_keys(a, Tq), HS);
    for (int64_t i0 = 0; i0 < Tq; i0 += qb) {
      const int64_t nq = std::min(qb, Tq - i0), nk = block_keys(a, i0 + nq), L = padded(nk);
      if (nk == 0) {  // every row of the block sees no key
        for (int64_t r = 0; r < nq; r++) {
          std::memset(oh + (i0 + r) * C, 0, sizeof(float) * size_t(HS));
          if (lh) lh[i0 + r] = kInf;
        }
        continue;
      }
      // W (nq, nk) = scale · Q_blk · K[0:nk]ᵀ, turned into the weights row by row: in the saved
      // weights (row stride ld) when kept for backward, else in scratch (row stride L). With
      // dropout on saved weights, the dropped copy that multiplies V goes to scratch.
      float* W = a.weights ? a.weights + ((b * NH + h) * Tq + i0) * ld : S;
      const int64_t lw = a.weights ? ld : L;
      const bool drop_copy = a.weights && a.dropout > 0.0f;
      sgemm(false, false, int(nq), int(nk), int(HS), a.scale, qh + i0 * C, int(C), KT, int(ld),
            0.0f, W, int(lw));
      for (int64_t r = 0; r < nq; r++) {
        const int64_t i = i0 + r, limit = key_limit(a, i, nk);
        float* s = W + r * lw;
        float* pv = drop_copy ? S + r * L : s;  // the row that multiplies V
        const float* brow = a.bias ? a.bias + (h * Tq + i) * Tk : nullptr;
        float m = mask_row(s, L, brow, kmask, limit);
        if (m == -kInf) {  // fully masked row: zero weights, zero output
          std::fill(s, s + L, 0.0f);
          std::fill(pv, pv + L, 0.0f);
          if (lh) lh[i] = kInf;
          continue;
        }
        fvec acc = splat(0.0f);
        for (int64_t j = 0; j < L; j += kW) {
          fvec e = exp_nonpos(loadv(s + j) - m);  // masked: exp(-inf) = 0
          storev(s + j, e);
          acc += e;
        }
        const float sum = hsum(acc), inv = 1.0f / sum;
        for (int64_t j = 0; j < L; j += kW) storev(s + j, loadv(s + j) * inv);
        if (lh) lh[i] = m + std::log(sum);
        if (a.dropout > 0.0f) {
          if (drop_copy) std::memcpy(pv, s, sizeof(float) * size_t(L));
          dropout_row(pv, L, a.seed, drop_index(a, b, h, i), a.dropout);
        }
      }
      // O_blk (nq, HS) = P (nq, nk) · V[0:nk]
      sgemm(false, false, int(nq), int(HS), int(nk), 1.0f, drop_copy ? S : W,
            int(drop_copy ? L : lw), vh, int(C), 0.0f, oh + i0 * C, int(C));
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, float* dbias, const float* dout,
                        const float* out, const float* lse, const float* q, const float* k,
                        const float* v, const AttentionArgs& a, bool overwrite) {
  const int64_t C = a.NH * a.HS, B = a.B, Tq = a.Tq, Tk = a.Tk, NH = a.NH, HS = a.HS;
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t qb = std::min(kQB, Tq);
  const int64_t ld = padded(Tk);
  const int64_t n_blocks = (Tq + qb - 1) / qb;
  const int64_t per_thread = 2 * qb * ld + 2 * HS * ld + qb;
  std::vector<float> scratch(size_t(nt * per_thread));
  gemm_info();  // loads the BLAS backend here, never inside the parallel region
  const Tasks tasks(a, dbias != nullptr);
  const bool par = tasks.n > 1 && B * NH * Tq * Tk * HS > (1 << 16);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (par)
  for (int64_t task = 0; task < tasks.n; task++) {
    float* P = scratch.data() + size_t(omp_get_thread_num()) * per_thread;  // (qb, ld)
    float* D = P + qb * ld;                                                 // (qb, ld)
    float* KT = D + qb * ld;                                                // (HS, ld)
    float* VT = KT + HS * ld;                                               // (HS, ld)
    float* delta = VT + HS * ld;                                            // (qb)
    for (int64_t bt = 0; bt < tasks.per_task_b; bt++) {
      const int64_t b = tasks.per_task_b == 1 ? task / NH : bt;
      const int64_t h = tasks.per_task_b == 1 ? task % NH : task;
      const int64_t qo = b * Tq * C + h * HS, ko = b * Tk * C + h * HS;
      const float* lh = lse ? lse + (b * NH + h) * Tq : nullptr;  // null with saved weights
      const int32_t* kmask = a.key_mask ? a.key_mask + b * Tk : nullptr;
      if (tasks.per_task_b == 1 && task + 1 < tasks.n) {  // the next head's operands
        const int64_t nb = (task + 1) / NH, nh = (task + 1) % NH;
        const int64_t nqo = nb * Tq * C + nh * HS, nko = nb * Tk * C + nh * HS;
        for (const float* t : {q + nqo, out + nqo, dout + nqo}) prefetch_head(t, Tq, C, HS);
        for (const float* t : {k + nko, v + nko}) prefetch_head(t, Tk, C, HS);
        if (a.weights) prefetch_head(a.weights + (nb * NH + nh) * Tq * ld, Tq, ld, ld);
      }
      if (!a.weights) transpose_head(KT, ld, k + ko, C, block_keys(a, Tq), HS);
      transpose_head(VT, ld, v + ko, C, block_keys(a, Tq), HS);
      // Query blocks last to first: the last sees every key a block can see, so with overwrite
      // it writes dK and dV of all of them and the earlier blocks accumulate.
      bool dkv_written = !overwrite;
      for (int64_t blk = n_blocks - 1; blk >= 0; blk--) {
        const int64_t i0 = blk * qb;
        const int64_t nq = std::min(qb, Tq - i0), nk = block_keys(a, i0 + nq), L = padded(nk);
        if (nk == 0) {
          if (overwrite && dq)
            for (int64_t r = 0; r < nq; r++)
              std::memset(dq + qo + (i0 + r) * C, 0, sizeof(float) * size_t(HS));
          continue;
        }
        const float beta_q = overwrite ? 0.0f : 1.0f, beta_kv = dkv_written ? 1.0f : 0.0f;
        dkv_written = true;
        // The weights of the block: saved by forward (row stride ld), or recomputed into P from
        // the scores and the saved log-sum-exp (row stride L). P (nq, nk) then holds the
        // weights after dropout, which multiply dO into dV; without dropout, saved weights are
        // used as they are.
        const float* Wsaved = a.weights ? a.weights + ((b * NH + h) * Tq + i0) * ld : nullptr;
        if (!Wsaved)
          sgemm(false, false, int(nq), int(nk), int(HS), a.scale, q + qo + i0 * C, int(C), KT,
                int(ld), 0.0f, P, int(L));
        // D (nq, nk) = dO_blk · V[0:nk]ᵀ, the gradient of the (dropped) weights.
        sgemm(false, false, int(nq), int(nk), int(HS), 1.0f, dout + qo + i0 * C, int(C), VT,
              int(ld), 0.0f, D, int(L));
        for (int64_t r = 0; r < nq; r++) {
          const float *o = out + qo + (i0 + r) * C, *g = dout + qo + (i0 + r) * C;
          float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
          for (int64_t c = 0; c < HS; c++) acc += o[c] * g[c];
          delta[r] = acc;  // Σ_j P'_ij dP'_ij = dO_i · O_i
        }
        for (int64_t r = 0; r < nq; r++) {
          const int64_t i = i0 + r, limit = key_limit(a, i, nk);
          float *p = P + r * L, *d = D + r * L;
          const float* w = Wsaved ? Wsaved + r * ld : nullptr;
          const float* brow = a.bias ? a.bias + (h * Tq + i) * Tk : nullptr;
          if (!w) mask_row(p, L, brow, kmask, limit);
          const float l = w ? 0.0f : lh[i], dl = delta[r];
          // dS = P (keep · dP' - delta), with P' = keep · P for dV (keep = 1 without dropout).
          const uint64_t base = drop_index(a, b, h, i);
          if (a.dropout > 0.0f) dropout_row(d, limit, a.seed, base, a.dropout);
          for (int64_t j = 0; j < L; j += kW) {
            fvec pj = w ? loadv(w + j) : exp_nonpos(loadv(p + j) - l);
            fvec ds = pj * (loadv(d + j) - dl);
            storev(d + j,
                   lane_index(int32_t(j)) < int32_t(limit) ? ds : splat(0.0f));  // unset past nk
            if (!w || a.dropout > 0.0f) storev(p + j, pj);
          }
          if (a.dropout > 0.0f) dropout_row(p, limit, a.seed, base, a.dropout);
          if (dbias) {
            float* db = dbias + (h * Tq + i) * Tk;
#pragma omp simd
            for (int64_t j = 0; j < limit; j++) db[j] += d[j];
          }
        }
        // dV[0:nk] += P'ᵀ · dO_blk; dQ_blk += scale · dS · K[0:nk]; dK[0:nk] += scale · dSᵀ · Q_blk
        const bool p_in_place = Wsaved && a.dropout == 0.0f;
        if (dv)
          sgemm(true, false, int(nk), int(HS), int(nq), 1.0f, p_in_place ? Wsaved : P,
                int(p_in_place ? ld : L), dout + qo + i0 * C, int(C), beta_kv, dv + ko, int(C));
        if (dq)
          sgemm(false, false, int(nq), int(HS), int(nk), a.scale, D, int(L), k + ko, int(C), beta_q,
                dq + qo + i0 * C, int(C));
        if (dk)
          sgemm(true, false, int(nk), int(HS), int(nq), a.scale, D, int(L), q + qo + i0 * C, int(C),
                beta_kv, dk + ko, int(C));
      }
      if (!dkv_written)  // no query saw any key: zero gradients
        for (int64_t j = 0; j < Tk; j++)
          for (float* g : {dk, dv})
            if (g) std::memset(g + ko + j * C, 0, sizeof(float) * size_t(HS));
    }
  }
}

namespace {

// Weights of row i of head (b, h) in double: pre-dropout p and post-dropout pd (Tk each).
// Returns false for a fully masked row (both zero).
bool ref_row(std::vector<double>& p, std::vector<double>& pd, const float* q, const float* k,
             const AttentionArgs& a, int64_t b, int64_t h, int64_t i) {
  const int64_t C = a.NH * a.HS;
  std::vector<bool> ok(size_t(a.Tk));
  double m = -INFINITY;
  for (int64_t j = 0; j < a.Tk; j++) {
    ok[size_t(j)] =
        (!a.causal || j <= i + (a.Tk - a.Tq)) && (!a.key_mask || a.key_mask[b * a.Tk + j]);
    double s = 0;
    for (int64_t c = 0; c < a.HS; c++)
      s += double(q[(b * a.Tq + i) * C + h * a.HS + c]) * k[(b * a.Tk + j) * C + h * a.HS + c];
    s = s * a.scale + (a.bias ? a.bias[(h * a.Tq + i) * a.Tk + j] : 0.0);
    p[size_t(j)] = s;
    if (ok[size_t(j)]) m = std::max(m, s);
  }
  if (m == -INFINITY) {
    std::fill(p.begin(), p.end(), 0.0);
    std::fill(pd.begin(), pd.end(), 0.0);
    return false;
  }
  double sum = 0;
  for (int64_t j = 0; j < a.Tk; j++) {
    p[size_t(j)] = ok[size_t(j)] ? std::exp(p[size_t(j)] - m) : 0.0;
    sum += p[size_t(j)];
  }
  for (int64_t j = 0; j < a.Tk; j++) {
    p[size_t(j)] /= sum;
    bool keep = a.dropout <= 0.0f ||
                hash_uniform(a.seed, uint64_t(((b * a.NH + h) * a.Tq + i) * a.Tk + j)) >= a.dropout;
    pd[size_t(j)] = keep ? p[size_t(j)] / (1.0 - a.dropout) : 0.0;
  }
  return true;
}

}  // namespace

void attention_forward_ref(float* out, const float* q, const float* k, const float* v,
                           const AttentionArgs& a) {
  const int64_t C = a.NH * a.HS;
  std::vector<double> p(size_t(a.Tk)), pd(size_t(a.Tk));
  for (int64_t b = 0; b < a.B; b++)
    for (int64_t h = 0; h < a.NH; h++)
      for (int64_t i = 0; i < a.Tq; i++) {
        ref_row(p, pd, q, k, a, b, h, i);
        for (int64_t c = 0; c < a.HS; c++) {
          double acc = 0;
          for (int64_t j = 0; j < a.Tk; j++)
            acc += pd[size_t(j)] * v[(b * a.Tk + j) * C + h * a.HS + c];
          out[(b * a.Tq + i) * C + h * a.HS + c] = float(acc);
        }
      }
}

void attention_backward_ref(float* dq, float* dk, float* dv, float* dbias, const float* dout,
                            const float* q, const float* k, const float* v,
                            const AttentionArgs& a) {
  const int64_t C = a.NH * a.HS, HS = a.HS;
  std::vector<double> p(size_t(a.Tk)), pd(size_t(a.Tk)), dp(size_t(a.Tk));
  for (int64_t b = 0; b < a.B; b++)
    for (int64_t h = 0; h < a.NH; h++) {
      // Per-head gradients in double, added once at the end.
      std::vector<double> gq(size_t(a.Tq * HS)), gk(size_t(a.Tk * HS)), gv(size_t(a.Tk * HS));
      std::vector<double> gb(size_t(a.Tq * a.Tk));
      for (int64_t i = 0; i < a.Tq; i++) {
        if (!ref_row(p, pd, q, k, a, b, h, i)) continue;
        const float* qi = q + (b * a.Tq + i) * C + h * HS;
        const float* go = dout + (b * a.Tq + i) * C + h * HS;
        double delta = 0;
        for (int64_t j = 0; j < a.Tk; j++) {
          const float* vj = v + (b * a.Tk + j) * C + h * HS;
          double g = 0;  // dL/dP'_ij
          for (int64_t c = 0; c < HS; c++) g += double(go[c]) * vj[c];
          for (int64_t c = 0; c < HS; c++) gv[size_t(j * HS + c)] += pd[size_t(j)] * go[c];
          dp[size_t(j)] = p[size_t(j)] > 0 ? g * pd[size_t(j)] / p[size_t(j)] : 0.0;  // dL/dP_ij
          delta += p[size_t(j)] * dp[size_t(j)];
        }
        for (int64_t j = 0; j < a.Tk; j++) {
          const float* kj = k + (b * a.Tk + j) * C + h * HS;
          double ds = p[size_t(j)] * (dp[size_t(j)] - delta);
          gb[size_t(i * a.Tk + j)] = ds;
          for (int64_t c = 0; c < HS; c++) {
            gq[size_t(i * HS + c)] += ds * a.scale * kj[c];
            gk[size_t(j * HS + c)] += ds * a.scale * qi[c];
          }
        }
      }
      for (int64_t i = 0; i < a.Tq; i++)
        for (int64_t c = 0; c < HS; c++)
          if (dq) dq[(b * a.Tq + i) * C + h * HS + c] += float(gq[size_t(i * HS + c)]);
      for (int64_t j = 0; j < a.Tk; j++)
        for (int64_t c = 0; c < HS; c++) {
          if (dk) dk[(b * a.Tk + j) * C + h * HS + c] += float(gk[size_t(j * HS + c)]);
          if (dv) dv[(b * a.Tk + j) * C + h * HS + c] += float(gv[size_t(j * HS + c)]);
        }
      if (dbias)
        for (int64_t n = 0; n < a.Tq * a.Tk; n++)
          dbias[h * a.Tq * a.Tk + n] += float(gb[size_t(n)]);
    }
}

}  // namespace aero
