// Fused log-softmax + negative log likelihood over N rows of V logits. The op decides which
// rows count and how they are weighted and divided; the kernel only sees a coefficient per
// row (coef[n] = weight / divisor, 0 for rows that do not count, which are skipped).
#pragma once
#include <cstdint>

namespace aero {

// loss (1) = Σ_n coef[n] · (lse[n] − logits[n, targets[n]]); writes lse (N) = logsumexp of
// each counted row (0 for skipped rows).
void cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                           const float* coef, int64_t N, int64_t V);
// dlogits (N, V) += dloss · coef[n] · (softmax(logits[n]) − onehot(targets[n])); the softmax
// is recomputed from logits and lse. With overwrite, dlogits is written (=), skipped rows
// included (zeros), so it may hold garbage on entry.
void cross_entropy_backward(float* dlogits, float dloss, const float* logits,
                            const int32_t* targets, const float* coef, const float* lse, int64_t N,
                            int64_t V, bool overwrite = false);
void cross_entropy_forward_ref(float* loss, float* lse, const float* logits, const int32_t* targets,
                               const float* coef, int64_t N, int64_t V);
void cross_entropy_backward_ref(float* dlogits, float dloss, const float* logits,
                                const int32_t* targets, const float* coef, const float* lse,
                                int64_t N, int64_t V);

}  // namespace aero
