// Optimizer updates over flat float arrays, in place, with torch.optim's arithmetic so that a
// step matches PyTorch's step for step. p params, g grads, m / v / buf moment buffers, all (n).
// `wd` is L2 weight decay added to the gradient (g + wd·p), as torch's SGD, RMSprop and Adam do;
// AdamW decouples it (p -= lr·wd·p before the Adam update). Whether a tensor decays is the
// caller's choice: pass wd = 0 for norms and biases.
#pragma once
#include <cstdint>

namespace aero {

// p -= lr · (g + wd·p)
void sgd_step(float* p, const float* g, int64_t n, float lr, float wd);
void sgd_step_ref(float* p, const float* g, int64_t n, float lr, float wd);

// d = g + wd·p; buf = momentum·buf + d (dampening 0; buf starts at zero, so the first step
// gives buf = d as in torch); p -= lr · (nesterov ? d + momentum·buf : buf)
void sgd_momentum_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum,
                       float wd, bool nesterov);
void sgd_momentum_step_ref(float* p, const float* g, float* buf, int64_t n, float lr,
                           float momentum, float wd, bool nesterov);

// d = g + wd·p; v = alpha·v + (1 - alpha)·d²; p -= lr · d / (sqrt(v) + eps)
void rmsprop_step(float* p, const float* g, float* v, int64_t n, float lr, float alpha, float eps,
                  float wd);
void rmsprop_step_ref(float* p, const float* g, float* v, int64_t n, float lr, float alpha,
                      float eps, float wd);

// Adam with bias correction; `step` is 1 on the first update.
// d = g + wd·p; m = b1·m + (1-b1)·d; v = b2·v + (1-b2)·d²;
// p -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps)
void adam_step(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
               float beta2, float eps, float wd, int64_t step);
void adam_step_ref(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                   float beta2, float eps, float wd, int64_t step);

// AdamW: p *= 1 - lr·wd, then the Adam update of g (no L2 term).
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float wd, int64_t step);
void adamw_step_ref(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                    float beta2, float eps, float wd, int64_t step);

// Σ x² accumulated in double.
double sum_squares(const float* x, int64_t n);
double sum_squares_ref(const float* x, int64_t n);
// x *= s
void scale_inplace(float* x, int64_t n, float s);

// Global-norm clipping over several arrays (grads[i] has sizes[i] elements), as
// torch.nn.utils.clip_grad_norm_: norm = sqrt(Σ all g²) in double; when
// max_norm / (norm + 1e-6) < 1 every gradient is scaled by it. Returns the norm before clipping.
double clip_grad_norm(float* const* grads, const int64_t* sizes, int count, float max_norm);
double clip_grad_norm_ref(float* const* grads, const int64_t* sizes, int count, float max_norm);

}  // namespace aero
