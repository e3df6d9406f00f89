// The lora op (scale · dropout(x)·Aᵀ·Bᵀ fused) against the composition of the unfused ops,
// its gradient check, and its dropout kernel (statistics, determinism, reference).
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/elementwise.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

struct LoraRun {
  Tensor y, dx, da, db;
};

// base(x) + lora(x) as Linear::forward builds it, a frozen base weight w, backward from dy;
// with `fused` false the same out of dropout-by-mask, linear, scale and linear, the mask read
// from the fused op's kernel with the seed a fresh tape of the same seed draws.
LoraRun run_lora(bool fused, bool bf16, float p, const Tensor& xt, const Tensor& wt,
                 const Tensor& at, const Tensor& bt, const Tensor& dy, float sc) {
  Tape tape(11);
  tape.bf16_products = bf16;
  Var x = tape.leaf(xt, true), w = tape.leaf(wt, false), a = tape.leaf(at, true),
      b = tape.leaf(bt, true);
  Var l;
  if (fused) {
    l = lora(x, a, b, sc, p);
  } else {
    Var h = x;
    if (p > 0) {
      Tape probe(11);
      const uint64_t seed = probe.next_seed();
      tape.next_seed();  // the draw the fused op makes
      Tensor ones = Tensor::full(xt.shape(), 1.0f), mask = Tensor::empty(xt.shape());
      dropout_fast_forward(mask.f32(), ones.f32(), seed, p, xt.numel());
      h = mul(x, tape.leaf(mask, false));
    }
    l = linear(scale(linear(h, a), sc), b);
  }
  Var y = linear(x, w, {}, l);
  tape.backward_from(y, dy);
  return {y.value().contiguous_copy(), x.grad().contiguous_copy(), a.grad().contiguous_copy(),
          b.grad().contiguous_copy()};
}

}  // namespace

OP_TEST(lora, equals_the_unfused_composition) {
  const int64_t B = 2, T = 37, IN = 48, OUT = 40, R = 8;
  const Tensor xt = random_tensor({B, T, IN}, 1), wt = random_tensor({OUT, IN}, 2),
               at = random_tensor({R, IN}, 3), bt = random_tensor({OUT, R}, 4),
               dy = random_tensor({B, T, OUT}, 5);
  for (bool bf16 : {false, true})
    for (float p : {0.0f, 0.1f, 0.5f}) {
      const LoraRun f = run_lora(true, bf16, p, xt, wt, at, bt, dy, 2.0f);
      const LoraRun u = run_lora(false, bf16, p, xt, wt, at, bt, dy, 2.0f);
      // The same kernels on the same values in the same order: the same bits, but for dx,
      // where mul's backward adds dh·mask in one fused multiply-add (a rounding apart).
      EXPECT_EQ(max_rel_diff(f.y, u.y), 0.0) << bf16 << " " << p;
      EXPECT_LT(max_rel_diff(f.dx, u.dx), 1e-6) << bf16 << " " << p;
      EXPECT_EQ(max_rel_diff(f.da, u.da), 0.0) << bf16 << " " << p;
      EXPECT_EQ(max_rel_diff(f.db, u.db), 0.0) << bf16 << " " << p;
    }
  // And the dropout does something: a different mask gives different values.
  const LoraRun f0 = run_lora(true, false, 0.0f, xt, wt, at, bt, dy, 2.0f);
  const LoraRun f1 = run_lora(true, false, 0.5f, xt, wt, at, bt, dy, 2.0f);
  EXPECT_GT(max_rel_diff(f1.y, f0.y), 1e-3);
  EXPECT_GT(max_rel_diff(f1.da, f0.da), 1e-3);
}

OP_TEST(lora, gradient) {
  for (float p : {0.0f, 0.3f})
    for (auto [B, T, IN, OUT, R] :
         {std::tuple{1, 1, 1, 1, 1}, {2, 3, 17, 5, 4}, {1, 9, 3, 20, 2}}) {
      std::vector<Tensor> in = {random_tensor({B, T, IN}, 1), random_tensor({R, IN}, 2),
                                random_tensor({OUT, R}, 3)};
      EXPECT_GRAD_OK(
          [p](Tape&, const std::vector<Var>& v) { return lora(v[0], v[1], v[2], 1.5f, p); }, in);
    }
}

OP_TEST(lora, no_dropout_in_eval_and_no_seed_drawn) {
  const Tensor xt = random_tensor({5, 12}, 1), at = random_tensor({3, 12}, 2),
               bt = random_tensor({7, 3}, 3);
  Tape t1(4), t2(4);
  t1.training = false;
  Var y1 = lora(t1.leaf(xt, true), t1.leaf(at, true), t1.leaf(bt, true), 0.5f, 0.4f);
  Var y2 = linear(scale(linear(t2.leaf(xt, true), t2.leaf(at, true)), 0.5f), t2.leaf(bt, true));
  EXPECT_EQ(max_rel_diff(y1.value(), y2.value()), 0.0);
  EXPECT_EQ(t1.next_seed(), t2.next_seed());
}

OP_TEST(lora, shape_errors_name_the_op) {
  Tape tape;
  Var x = tape.leaf(random_tensor({2, 6}, 1), true);
  expect_error(
      [&] {
        lora(x, tape.leaf(random_tensor({3, 5}, 2), true),
             tape.leaf(random_tensor({4, 3}, 3), true), 1.0f, 0.0f);
      },
      "[lora]", "a (3, 5)");
  expect_error(
      [&] {
        lora(x, tape.leaf(random_tensor({3, 6}, 2), true),
             tape.leaf(random_tensor({4, 2}, 3), true), 1.0f, 0.0f);
      },
      "[lora]", "b (4, 2)");
}

TEST(kernels, dropout_fast_statistics_determinism_and_reference) {
  const int64_t N = 200003;  // not a multiple of 16: the tail path too
  const Tensor x = random_tensor({N}, 1, 0.5f, 1.5f);
  for (float p : {0.1f, 0.3f}) {
    Tensor y = Tensor::empty({N}), r = Tensor::empty({N}), y1 = Tensor::empty({N});
    dropout_fast_forward(y.f32(), x.f32(), 99, p, N);
    dropout_fast_forward_ref(r.f32(), x.f32(), 99, p, N);
    EXPECT_LT(max_rel_diff(y, r), 1e-7);
    int64_t zeros = 0, tail_zeros = 0;
    bool scaled = true;
    for (int64_t i = 0; i < N; i++) {
      if (y.f32()[i] == 0.0f) {
        zeros++;
        tail_zeros += i % 16 >= 8;
      } else {
        scaled = scaled && std::fabs(y.f32()[i] - x.f32()[i] / (1.0f - p)) < 1e-6f;
      }
    }
    EXPECT_TRUE(scaled);
    EXPECT_NEAR(double(zeros) / N, p, 0.005);
    EXPECT_NEAR(double(tail_zeros) / (N / 2), p, 0.007);  // the high halves drop as often
    // Whatever the threads, the same bits; another seed, another mask.
    const int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    dropout_fast_forward(y1.f32(), x.f32(), 99, p, N);
    omp_set_num_threads(prev);
    EXPECT_EQ(max_rel_diff(y, y1), 0.0);
    dropout_fast_forward(y1.f32(), x.f32(), 100, p, N);
    EXPECT_GT(max_rel_diff(y, y1), 0.0);
    // Backward: dinp += the forward mask times dout / (1-p), or = with overwrite.
    Tensor d = Tensor::full({N}, 1.0f), dw = Tensor::full({N}, 7.0f);
    dropout_fast_backward(d.f32(), x.f32(), 99, p, N);
    dropout_fast_backward(dw.f32(), x.f32(), 99, p, N, /*overwrite=*/true);
    int64_t bad = 0;
    for (int64_t i = 0; i < N; i++)
      bad += d.f32()[i] != 1.0f + y.f32()[i] || dw.f32()[i] != y.f32()[i];
    EXPECT_EQ(bad, 0);
  }
}
