#include <cmath>
#include <vector>

#include "kernels/optim.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

// Odd sizes: below and above the threshold where the kernels go parallel.
const int64_t kSizes[] = {1, 37, 100003};

// Runs `steps` updates of a fast kernel and its reference on the same data and compares the
// parameters and every moment buffer.
template <typename Fast, typename Ref>
void check_against_ref(Fast fast, Ref ref, int n_moments, const char* what) {
  for (int64_t n : kSizes) {
    Tensor p1 = random_tensor({n}, 1), p2 = p1.contiguous_copy();
    std::vector<Tensor> m1, m2;
    for (int k = 0; k < n_moments; k++) {
      m1.push_back(Tensor::zeros({n}));
      m2.push_back(Tensor::zeros({n}));
    }
    for (int step = 1; step <= 4; step++) {
      Tensor g = random_tensor({n}, 10 + step);
      float* a1 = n_moments > 0 ? m1[0].f32() : nullptr;
      float* b1 = n_moments > 1 ? m1[1].f32() : nullptr;
      float* a2 = n_moments > 0 ? m2[0].f32() : nullptr;
      float* b2 = n_moments > 1 ? m2[1].f32() : nullptr;
      fast(p1.f32(), g.f32(), a1, b1, n, step);
      ref(p2.f32(), g.f32(), a2, b2, n, step);
    }
    EXPECT_LT(max_rel_diff(p1, p2), 1e-6) << what << " n=" << n;
    for (int k = 0; k < n_moments; k++)
      EXPECT_LT(max_rel_diff(m1[size_t(k)], m2[size_t(k)]), 1e-6) << what << " moment " << k;
    // The update moved the parameters: a test that cannot fail is a defect.
    EXPECT_GT(max_rel_diff(p1, random_tensor({n}, 1)), 1e-4) << what;
  }
}

}  // namespace

TEST(optim_kernels, sgd_matches_reference) {
  check_against_ref([](float* p, const float* g, float*, float*, int64_t n,
                       int64_t) { sgd_step(p, g, n, 0.1f, 0.01f); },
                    [](float* p, const float* g, float*, float*, int64_t n, int64_t) {
                      sgd_step_ref(p, g, n, 0.1f, 0.01f);
                    },
                    0, "sgd");
}

TEST(optim_kernels, momentum_matches_reference) {
  for (bool nesterov : {false, true})
    check_against_ref([=](float* p, const float* g, float* b, float*, int64_t n,
                          int64_t) { sgd_momentum_step(p, g, b, n, 0.1f, 0.9f, 0.01f, nesterov); },
                      [=](float* p, const float* g, float* b, float*, int64_t n, int64_t) {
                        sgd_momentum_step_ref(p, g, b, n, 0.1f, 0.9f, 0.01f, nesterov);
                      },
                      1, nesterov ? "nesterov" : "momentum");
}

TEST(optim_kernels, rmsprop_matches_reference) {
  check_against_ref([](float* p, const float* g, float* v, float*, int64_t n,
                       int64_t) { rmsprop_step(p, g, v, n, 1e-2f, 0.99f, 1e-8f, 0.01f); },
                    [](float* p, const float* g, float* v, float*, int64_t n, int64_t) {
                      rmsprop_step_ref(p, g, v, n, 1e-2f, 0.99f, 1e-8f, 0.01f);
                    },
                    1, "rmsprop");
}

TEST(optim_kernels, adam_and_adamw_match_reference) {
  check_against_ref(
      [](float* p, const float* g, float* m, float* v, int64_t n, int64_t t) {
        adam_step(p, g, m, v, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.01f, t);
      },
      [](float* p, const float* g, float* m, float* v, int64_t n, int64_t t) {
        adam_step_ref(p, g, m, v, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.01f, t);
      },
      2, "adam");
  check_against_ref(
      [](float* p, const float* g, float* m, float* v, int64_t n, int64_t t) {
        adamw_step(p, g, m, v, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
      },
      [](float* p, const float* g, float* m, float* v, int64_t n, int64_t t) {
        adamw_step_ref(p, g, m, v, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
      },
      2, "adamw");
}

TEST(optim_kernels, hand_computed_steps) {
  // SGD: p = 1, g = 0.5, wd 0.1, lr 0.2 -> 1 - 0.2 * (0.5 + 0.1) = 0.88
  float p = 1.0f, g = 0.5f;
  sgd_step(&p, &g, 1, 0.2f, 0.1f);
  EXPECT_FLOAT_EQ(p, 0.88f);
  // Momentum, two steps with g = 1, lr 1, momentum 0.5: buf 1 then 1.5; p = 0 - 1 - 1.5
  float q = 0.0f, one = 1.0f, buf = 0.0f;
  sgd_momentum_step(&q, &one, &buf, 1, 1.0f, 0.5f, 0.0f, false);
  sgd_momentum_step(&q, &one, &buf, 1, 1.0f, 0.5f, 0.0f, false);
  EXPECT_FLOAT_EQ(buf, 1.5f);
  EXPECT_FLOAT_EQ(q, -2.5f);
  // Nesterov's first step uses d + momentum * buf = 1 + 0.5
  float r = 0.0f, rb = 0.0f;
  sgd_momentum_step(&r, &one, &rb, 1, 1.0f, 0.5f, 0.0f, true);
  EXPECT_FLOAT_EQ(r, -1.5f);
  // Adam's first step with bias correction moves by lr * g / (|g| + eps) ~ lr in g's direction.
  float a = 0.0f, ga = -3.0f, m = 0.0f, v = 0.0f;
  adam_step(&a, &ga, &m, &v, 1, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
  EXPECT_NEAR(a, 0.01f, 1e-7);
  // AdamW with a zero gradient only decays: p *= 1 - lr * wd
  float w = 2.0f, zero = 0.0f, mw = 0.0f, vw = 0.0f;
  adamw_step(&w, &zero, &mw, &vw, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1);
  EXPECT_FLOAT_EQ(w, 2.0f * 0.95f);
  // RMSProp first step: v = (1 - alpha) g², p -= lr g / sqrt(v)
  float s = 0.0f, gs = 2.0f, vs = 0.0f;
  rmsprop_step(&s, &gs, &vs, 1, 0.1f, 0.75f, 0.0f, 0.0f);
  EXPECT_FLOAT_EQ(vs, 1.0f);
  EXPECT_FLOAT_EQ(s, -0.2f);
}

TEST(optim_kernels, clip_grad_norm_scales_only_above_max) {
  for (int64_t n : kSizes) {
    Tensor a = random_tensor({n}, 1), b = random_tensor({7}, 2);
    double want = std::sqrt(sum_squares_ref(a.f32(), n) + sum_squares_ref(b.f32(), 7));
    EXPECT_NEAR(sum_squares(a.f32(), n), sum_squares_ref(a.f32(), n), 1e-9 * want * want);
    Tensor a2 = a.contiguous_copy(), b2 = b.contiguous_copy();
    float* g1[] = {a.f32(), b.f32()};
    float* g2[] = {a2.f32(), b2.f32()};
    int64_t sizes[] = {n, 7};
    // Above: every gradient is scaled so that the global norm becomes max_norm.
    float max_norm = float(want / 3);
    EXPECT_NEAR(clip_grad_norm(g1, sizes, 2, max_norm), want, 1e-9 * want);
    EXPECT_NEAR(clip_grad_norm_ref(g2, sizes, 2, max_norm), want, 1e-9 * want);
    EXPECT_LT(max_rel_diff(a, a2), 1e-6);
    EXPECT_LT(max_rel_diff(b, b2), 1e-6);
    double after = std::sqrt(sum_squares(a.f32(), n) + sum_squares(b.f32(), 7));
    EXPECT_NEAR(after, max_norm, 1e-5 * max_norm);
    // Below: untouched, and the returned norm is still reported.
    Tensor before = a.contiguous_copy();
    EXPECT_NEAR(clip_grad_norm(g1, sizes, 2, 10 * max_norm), after, 1e-6 * after);
    EXPECT_EQ(max_rel_diff(a, before), 0.0);
  }
}
