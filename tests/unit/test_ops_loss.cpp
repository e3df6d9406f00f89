#include <cmath>
#include <functional>
#include <vector>

#include "kernels/loss.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

// -log_softmax(row)[y] in double.
double nll(const float* row, int64_t V, int32_t y) {
  double mx = row[0], s = 0;
  for (int64_t v = 0; v < V; v++) mx = std::max(mx, double(row[v]));
  for (int64_t v = 0; v < V; v++) s += std::exp(row[v] - mx);
  return mx + std::log(s) - row[y];
}

GradCheckFn ce(const Tensor& y, const CrossEntropyOpts& opts) {
  return [y, opts](Tape&, const std::vector<Var>& v) { return cross_entropy(v[0], y, opts); };
}

}  // namespace

TEST(kernels, cross_entropy_matches_reference) {
  for (auto [N, V] :
       {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {64, 64}, {17, 1000}, {40, 2001}}) {
    Tensor x = random_tensor({N, V}, 1, -20.0f, 20.0f), coef = random_tensor({N}, 2, 0.0f, 1.0f);
    Tensor y = random_ids({N}, int32_t(V), 3);
    if (N > 2) coef.f32()[1] = 0.0f;  // a row that does not count
    float l1, l2;
    Tensor lse1 = Tensor::empty({N}), lse2 = Tensor::empty({N});
    cross_entropy_forward(&l1, lse1.f32(), x.f32(), y.i32(), coef.f32(), N, V);
    cross_entropy_forward_ref(&l2, lse2.f32(), x.f32(), y.i32(), coef.f32(), N, V);
    EXPECT_NEAR(l1, l2, 2e-6 * std::max(1.0f, std::fabs(l2))) << N << "x" << V;
    EXPECT_LT(max_rel_diff(lse1, lse2), 2e-6);
    Tensor d1 = random_tensor({N, V}, 4), d2 = d1.contiguous_copy();
    cross_entropy_backward(d1.f32(), 0.7f, x.f32(), y.i32(), coef.f32(), lse2.f32(), N, V);
    cross_entropy_backward_ref(d2.f32(), 0.7f, x.f32(), y.i32(), coef.f32(), lse2.f32(), N, V);
    EXPECT_LT(max_rel_diff(d1, d2), 2e-6);
  }
}

// overwrite writes every row over garbage (NaN), skipped rows as zeros.
TEST(kernels, cross_entropy_backward_overwrite_matches_reference_into_zeros) {
  for (auto [N, V] : {std::pair<int64_t, int64_t>{1, 1}, {5, 17}, {40, 2001}}) {
    Tensor x = random_tensor({N, V}, 1, -20.0f, 20.0f), coef = random_tensor({N}, 2, 0.1f, 1.0f);
    Tensor y = random_ids({N}, int32_t(V), 3);
    if (N > 2) coef.f32()[1] = 0.0f;
    float l;
    Tensor lse = Tensor::empty({N});
    cross_entropy_forward_ref(&l, lse.f32(), x.f32(), y.i32(), coef.f32(), N, V);
    Tensor d1 = Tensor::full({N, V}, NAN), d2 = Tensor::zeros({N, V});
    cross_entropy_backward(d1.f32(), 0.7f, x.f32(), y.i32(), coef.f32(), lse.f32(), N, V, true);
    cross_entropy_backward_ref(d2.f32(), 0.7f, x.f32(), y.i32(), coef.f32(), lse.f32(), N, V);
    EXPECT_LT(max_rel_diff(d1, d2), 2e-6) << N << "x" << V;
  }
}

// Logits feeding two losses: the first backward writes the fresh gradient, the second adds.
OP_TEST(cross_entropy, two_losses_on_one_logits_accumulate) {
  Tensor xv = random_tensor({4, 9}, 5);
  Tensor y1 = random_ids({4}, 9, 6), y2 = random_ids({4}, 9, 7);
  Tape tape;
  Var x = tape.leaf(xv, true);
  tape.backward(add(reshape(cross_entropy(x, y1), {1}), reshape(cross_entropy(x, y2), {1})));
  Tape t1, t2;
  Var a = t1.leaf(xv, true), b = t2.leaf(xv, true);
  t1.backward(cross_entropy(a, y1));
  t2.backward(cross_entropy(b, y2));
  Tensor g = x.grad(), ga = a.grad(), gb = b.grad();
  for (int64_t i = 0; i < g.numel(); i++) EXPECT_NEAR(g.f32()[i], ga.f32()[i] + gb.f32()[i], 1e-6);
}

OP_TEST(cross_entropy, gradient) {
  for (auto [B, T, V] : {std::tuple{1, 1, 1}, {1, 3, 17}, {2, 3, 64}}) {
    Tensor x = random_tensor({B, T, V}, 1, -3.0f, 3.0f), y = random_ids({B, T}, V, 2);
    EXPECT_GRAD_OK(ce(y, {}), {x});
  }
  Tensor x2 = random_tensor({5, 17}, 3, -3.0f, 3.0f);  // 2-D logits (N, V)
  EXPECT_GRAD_OK(ce(random_ids({5}, 17, 4), {}), {x2});
}

OP_TEST(cross_entropy, gradient_with_ignore_index_weights_final_only_divisor) {
  int B = 2, T = 3, V = 17;
  Tensor x = random_tensor({B, T, V}, 1, -3.0f, 3.0f), y = random_ids({B, T}, V, 2);
  y.i32()[1] = -100;
  y.i32()[5] = 5;  // the final position of sequence 1, ignored below with ignore_index 5
  CrossEntropyOpts ignore;
  EXPECT_GRAD_OK(ce(y, ignore), {x});
  CrossEntropyOpts weighted;
  weighted.weights = random_tensor({B, T}, 3, 0.1f, 2.0f);
  EXPECT_GRAD_OK(ce(y, weighted), {x});
  CrossEntropyOpts last;
  last.final_only = true;
  EXPECT_GRAD_OK(ce(y, last), {x});
  CrossEntropyOpts div;
  div.divisor = 7.0f;
  div.weights = weighted.weights;
  EXPECT_GRAD_OK(ce(y, div), {x});
  CrossEntropyOpts all = div;
  all.final_only = true;
  all.ignore_index = 5;
  EXPECT_GRAD_OK(ce(y, all), {x});
}

OP_TEST(cross_entropy, matches_the_definition) {
  int B = 3, T = 4, V = 17;
  Tensor x = random_tensor({B, T, V}, 1, -5.0f, 5.0f), y = random_ids({B, T}, V, 2);
  Tensor w = random_tensor({B, T}, 3, 0.0f, 2.0f);
  y.i32()[2] = -1;
  Tape tape;
  Var xv = tape.leaf(x, true);
  // Mean over counted positions with ignore_index -1.
  double acc = 0, wacc = 0;
  int counted = 0;
  for (int n = 0; n < B * T; n++) {
    if (y.i32()[n] == -1) continue;
    double l = nll(x.f32() + n * V, V, y.i32()[n]);
    acc += l;
    wacc += w.f32()[n] * l;
    counted++;
  }
  CrossEntropyOpts opts;
  opts.ignore_index = -1;
  Var loss = cross_entropy(xv, y, opts);
  EXPECT_EQ(loss.shape().ndim, 0);
  EXPECT_NEAR(loss.value().f32()[0], acc / counted, 1e-5);
  opts.weights = w;
  EXPECT_NEAR(cross_entropy(xv, y, opts).value().f32()[0], wacc / counted, 1e-5);
  opts.divisor = 100.0f;
  EXPECT_NEAR(cross_entropy(xv, y, opts).value().f32()[0], wacc / 100.0, 1e-6);
  // final_only == mean over b of -log_softmax(logits[b, T-1])[y[b, T-1]].
  double last = 0;
  for (int b = 0; b < B; b++) last += nll(x.f32() + (b * T + T - 1) * V, V, y.i32()[b * T + T - 1]);
  CrossEntropyOpts fo;
  fo.final_only = true;
  EXPECT_NEAR(cross_entropy(xv, y, fo).value().f32()[0], last / B, 1e-5);
  // With weights and a divisor: Σ_b w[b, T-1] · nll[b, T-1] / divisor.
  double wlast = 0;
  for (int b = 0; b < B; b++) {
    int n = b * T + T - 1;
    wlast += w.f32()[n] * nll(x.f32() + n * V, V, y.i32()[n]);
  }
  fo.weights = w;
  fo.divisor = 2.0f;
  EXPECT_NEAR(cross_entropy(xv, y, fo).value().f32()[0], wlast / 2.0, 1e-5);
}

OP_TEST(cross_entropy, final_only_gradient_touches_only_the_last_position) {
  int B = 2, T = 5, V = 7;
  Tape tape;
  Var x = tape.leaf(random_tensor({B, T, V}, 1), true);
  CrossEntropyOpts fo;
  fo.final_only = true;
  tape.backward(cross_entropy(x, random_ids({B, T}, V, 2), fo));
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      double s = 0;
      for (int v = 0; v < V; v++) s += std::fabs(x.grad().at({b, t, v}));
      if (t == T - 1)
        EXPECT_GT(s, 0.0);
      else
        EXPECT_EQ(s, 0.0);
    }
}

OP_TEST(cross_entropy, backward_does_not_depend_on_the_callers_target_buffer) {
  Tensor x = random_tensor({3, 17}, 1), y = random_ids({3}, 17, 2);
  Tape t1, t2;
  Var x1 = t1.leaf(x, true), x2 = t2.leaf(x, true);
  Var l1 = cross_entropy(x1, y);
  t2.backward(cross_entropy(x2, y));
  for (int i = 0; i < 3; i++) y.i32()[i] = (y.i32()[i] + 1) % 17;  // the next batch
  t1.backward(l1);
  EXPECT_EQ(max_rel_diff(x1.grad(), x2.grad()), 0.0);
}

OP_TEST(cross_entropy, nothing_counted_gives_zero_loss_and_gradient) {
  Tape tape;
  Var x = tape.leaf(random_tensor({2, 3, 5}, 1), true);
  Tensor y = Tensor::empty({2, 3}, DType::i32);
  for (int i = 0; i < 6; i++) y.i32()[i] = -100;
  Var loss = cross_entropy(x, y);
  EXPECT_EQ(loss.value().f32()[0], 0.0f);
  tape.backward(loss);
  for (int64_t i = 0; i < 30; i++) EXPECT_EQ(x.grad().f32()[i], 0.0f);
}

OP_TEST(cross_entropy, bad_calls_name_the_op_and_shapes) {
  Tape tape;
  Var x = tape.leaf(Tensor::zeros({2, 3, 5}), true);
  Tensor y = Tensor::zeros({2, 3}, DType::i32);
  y.i32()[4] = 5;
  expect_error([&] { cross_entropy(x, y); }, "[cross_entropy]",
               "target 5 at position 4 out of range for logits (2, 3, 5)");
  y.i32()[4] = -7;
  expect_error([&] { cross_entropy(x, y); }, "[cross_entropy]", "target -7");
  expect_error(
      [&] {
        cross_entropy(x, Tensor::zeros({2, 3}));
      },
      "[cross_entropy]", "targets must be i32, got f32 (2, 3)");
  expect_error(
      [&] {
        cross_entropy(x, Tensor::zeros({3, 2}, DType::i32));
      },
      "[cross_entropy]", "targets (3, 2) do not match logits (2, 3, 5)");
  CrossEntropyOpts fo;
  fo.final_only = true;
  expect_error(
      [&] {
        cross_entropy(tape.leaf(Tensor::zeros({6, 5}), true), Tensor::zeros({6}, DType::i32), fo);
      },
      "[cross_entropy]", "(6, 5)");
  CrossEntropyOpts bw;
  bw.weights = Tensor::zeros({2, 2});
  expect_error(
      [&] {
        cross_entropy(x, Tensor::zeros({2, 3}, DType::i32), bw);
      },
      "[cross_entropy]", "weights (2, 2)");
}
