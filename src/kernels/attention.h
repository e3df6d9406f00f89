// Fused scaled-dot-product attention. q (B, Tq, NH*HS), k and v (B, Tk, NH*HS), out like q;
// head h is channels [h*HS, (h+1)*HS) of every row, so per-head gemms use a leading dimension
// of NH*HS and no permute copy is made. Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

struct AttentionArgs {
  int64_t B = 1, Tq = 1, Tk = 1, NH = 1, HS = 1;
  float scale = 1.0f;    // applied to q·kᵀ (already resolved: never 0 here)
  bool causal = false;   // query i sees keys j <= i + (Tk - Tq)
  float dropout = 0.0f;  // probability of zeroing a weight; 0 disables
  uint64_t seed = 0;     // dropout mask: hash_uniform(seed, ((b*NH + h)*Tq + i)*Tk + j)
  const int32_t* key_mask = nullptr;  // (B, Tk) 1 = attend, 0 = padding; may be null
  const float* bias = nullptr;        // (NH, Tq, Tk) added to the scaled scores; may be null
  // (B, NH, Tq, attention_weights_ld(Tk)), may be null: forward writes the softmax weights
  // (before dropout) there and backward reads them instead of recomputing them from q and k.
  float* weights = nullptr;
};

// Row stride of saved attention weights: Tk rounded up to 16 floats.
inline int64_t attention_weights_ld(int64_t Tk) { return (Tk + 15) / 16 * 16; }

// lse (B, NH, Tq): log-sum-exp of each row of masked scores, +inf for a fully masked row
// (whose output is zero). May be null when no backward follows.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionArgs& a);
// dq like q, dk and dv like k, dbias (NH, Tq, Tk); any may be null. out and lse from forward
// (lse may be null when a.weights holds the weights).
// overwrite: dq, dk and dv hold garbage on entry and are written (=), not accumulated.
void attention_backward(float* dq, float* dk, float* dv, float* dbias, const float* dout,
                        const float* out, const float* lse, const float* q, const float* k,
                        const float* v, const AttentionArgs& a, bool overwrite = false);

// Attention of one new query row (a decoded token) over Tk cached rows: out (NH*HS) =
// softmax(scale · q·Kᵀ + bias) · V per head, q (NH*HS), K and V (Tk, NH*HS), bias (NH, Tk) or
// null. The cache is read row by row in order (one stream, every head of a row together); heads
// are split over the threads when the work pays for it. attention_forward with Tq = 1 to rounding.
void attention_row_forward(float* out, const float* q, const float* K, const float* V, int Tk,
                           int NH, int HS, float scale, const float* bias = nullptr);

// Naive references: one (b, h, i, j) at a time, double accumulation, same dropout mask.
void attention_forward_ref(float* out, const float* q, const float* k, const float* v,
                           const AttentionArgs& a);
void attention_backward_ref(float* dq, float* dk, float* dv, float* dbias, const float* dout,
                            const float* q, const float* k, const float* v, const AttentionArgs& a);

}  // namespace aero
