#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/gemm_bf16.h"
#include "kernels/vec.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

// Odd sizes, plus one above the kernels' parallel thresholds.
const int64_t kSizes[] = {1, 3, 17, 64, 1000, 70001};

// Runs f and checks it throws an aero::Error starting with `prefix` and containing `part`.
// Values in [-4, 4) kept away from 0, where relu's kink would spoil finite differences.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  Tensor t = random_tensor(s, seed, -4.0f, 4.0f);
  for (int64_t i = 0; i < t.numel(); i++)
    if (std::fabs(t.f32()[i]) < 0.1f) t.f32()[i] += t.f32()[i] < 0 ? -0.1f : 0.1f;
  return t;
}

using Fwd = void (*)(float*, const float*, int64_t);
using Bwd = void (*)(float*, const float*, const float*, int64_t);
using BwdOverwrite = void (*)(float*, const float*, const float*, int64_t, bool);

// Backward both ways: accumulating onto dx, and overwriting a dx full of NaN.
void check_unary(Fwd fast, Fwd ref, BwdOverwrite fast_b, Bwd ref_b, double tol) {
  for (int64_t N : kSizes) {
    Tensor x = random_tensor({N}, 1, -6.0f, 6.0f), dy = random_tensor({N}, 2);
    Tensor y1 = Tensor::empty({N}), y2 = Tensor::empty({N});
    fast(y1.f32(), x.f32(), N);
    ref(y2.f32(), x.f32(), N);
    EXPECT_LT(max_rel_diff(y1, y2), tol) << "forward N=" << N;
    Tensor dx1 = random_tensor({N}, 3), dx2 = dx1.contiguous_copy();
    fast_b(dx1.f32(), dy.f32(), x.f32(), N, false);
    ref_b(dx2.f32(), dy.f32(), x.f32(), N);
    EXPECT_LT(max_rel_diff(dx1, dx2), tol) << "backward N=" << N;
    Tensor dx3 = Tensor::full({N}, std::nanf("")), dx4 = Tensor::zeros({N});
    fast_b(dx3.f32(), dy.f32(), x.f32(), N, true);
    ref_b(dx4.f32(), dy.f32(), x.f32(), N);
    EXPECT_LT(max_rel_diff(dx3, dx4), tol) << "backward overwrite N=" << N;
  }
}

}  // namespace

TEST(kernels, fast_exp_relative_error) {
  double worst = 0;
  for (double x = -86.5; x <= 88.0; x += 1.0 / 1024.0 + 1e-7) {
    double e = std::exp(double(float(x)));
    worst = std::max(worst, std::fabs(fast_exp(float(x)) - e) / e);
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
  EXPECT_EQ(fast_exp(-1000.0f), 0.0f);
  EXPECT_EQ(fast_exp(-INFINITY), 0.0f);
  EXPECT_TRUE(std::isfinite(fast_exp(1000.0f)));
}

TEST(kernels, exp_v_relative_error) {
  double worst = 0;
  for (double x0 = -87.0; x0 <= 88.0; x0 += kW / 1024.0) {
    float in[kW], out[kW];
    for (int i = 0; i < kW; i++) in[i] = float(std::min(88.0, x0 + i / 1024.0 + 1e-7));
    storev(out, exp_v(loadv(in)));
    for (int i = 0; i < kW; i++) {
      double e = std::exp(double(in[i]));
      worst = std::max(worst, std::fabs(out[i] - e) / e);
    }
  }
  EXPECT_LT(worst, 2e-7);
  float edge[kW];
  for (int i = 0; i < kW; i++) edge[i] = i % 2 ? -1000.0f : 1000.0f;  // clamped, finite
  storev(edge, exp_v(loadv(edge)));
  for (int i = 0; i < kW; i++) EXPECT_TRUE(std::isfinite(edge[i]) && edge[i] > 0.0f) << i;
}

TEST(kernels, fast_erf_absolute_error) {
  double worst = 0;
  for (double x = -6.0; x <= 6.0; x += 1.0 / 4096.0)
    worst = std::max(worst, std::fabs(fast_erf(float(x)) - std::erf(double(float(x)))));
  EXPECT_LT(worst, 1e-6);
}

TEST(kernels, activations_match_reference) {
  check_unary(gelu_tanh_forward, gelu_tanh_forward_ref, gelu_tanh_backward, gelu_tanh_backward_ref,
              2e-6);
  // erf is approximated to 1e-6 absolute in the fast kernel.
  check_unary(gelu_erf_forward, gelu_erf_forward_ref, gelu_erf_backward, gelu_erf_backward_ref,
              3e-6);
  check_unary(silu_forward, silu_forward_ref, silu_backward, silu_backward_ref, 2e-6);
  check_unary(relu_forward, relu_forward_ref, relu_backward, relu_backward_ref, 1e-7);
}

TEST(kernels, gated_units_match_reference) {
  using GF = void (*)(float*, const float*, const float*, int64_t);
  using GB = void (*)(float*, float*, const float*, const float*, const float*, int64_t);
  struct Case {
    GF fast, ref;
    GB fast_b, ref_b;
  };
  for (Case c : {Case{swiglu_forward, swiglu_forward_ref, swiglu_backward, swiglu_backward_ref},
                 Case{geglu_forward, geglu_forward_ref, geglu_backward, geglu_backward_ref}})
    for (int64_t N : kSizes) {
      Tensor g = random_tensor({N}, 1, -6.0f, 6.0f), u = random_tensor({N}, 2),
             dy = random_tensor({N}, 3);
      Tensor y1 = Tensor::empty({N}), y2 = Tensor::empty({N});
      c.fast(y1.f32(), g.f32(), u.f32(), N);
      c.ref(y2.f32(), g.f32(), u.f32(), N);
      EXPECT_LT(max_rel_diff(y1, y2), 2e-6) << N;
      Tensor dg1 = random_tensor({N}, 4), dg2 = dg1.contiguous_copy();
      Tensor du1 = random_tensor({N}, 5), du2 = du1.contiguous_copy();
      c.fast_b(dg1.f32(), du1.f32(), dy.f32(), g.f32(), u.f32(), N);
      c.ref_b(dg2.f32(), du2.f32(), dy.f32(), g.f32(), u.f32(), N);
      EXPECT_LT(max_rel_diff(dg1, dg2), 2e-6) << N;
      EXPECT_LT(max_rel_diff(du1, du2), 2e-6) << N;
    }
}

TEST(kernels, add_mul_scale_sum_match_reference) {
  for (auto [rows, R] :
       {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {64, 64}, {1, 70001}, {300, 257}}) {
    int64_t N = rows * R;
    Tensor a = random_tensor({N}, 1), b = random_tensor({R}, 2), dy = random_tensor({N}, 3);
    Tensor y1 = Tensor::empty({N}), y2 = Tensor::empty({N});
    add_forward(y1.f32(), a.f32(), b.f32(), N, R);
    add_forward_ref(y2.f32(), a.f32(), b.f32(), N, R);
    EXPECT_LT(max_rel_diff(y1, y2), 1e-7);
    Tensor ga1 = random_tensor({N}, 6), ga2 = ga1.contiguous_copy();
    Tensor gb1 = random_tensor({R}, 7), gb2 = gb1.contiguous_copy();
    add_backward(ga1.f32(), gb1.f32(), dy.f32(), N, R);
    add_backward_ref(ga2.f32(), gb2.f32(), dy.f32(), N, R);
    EXPECT_LT(max_rel_diff(ga1, ga2), 1e-7);
    EXPECT_LT(max_rel_diff(gb1, gb2), 1e-5);
    mul_forward(y1.f32(), a.f32(), b.f32(), N, R);
    mul_forward_ref(y2.f32(), a.f32(), b.f32(), N, R);
    EXPECT_LT(max_rel_diff(y1, y2), 1e-7);
    Tensor da1 = random_tensor({N}, 4), da2 = da1.contiguous_copy();
    Tensor db1 = random_tensor({R}, 5), db2 = db1.contiguous_copy();
    mul_backward(da1.f32(), db1.f32(), dy.f32(), a.f32(), b.f32(), N, R);
    mul_backward_ref(da2.f32(), db2.f32(), dy.f32(), a.f32(), b.f32(), N, R);
    EXPECT_LT(max_rel_diff(da1, da2), 1e-6);
    EXPECT_LT(max_rel_diff(db1, db2), 1e-5);
    scale_forward(y1.f32(), a.f32(), -0.37f, N);
    scale_forward_ref(y2.f32(), a.f32(), -0.37f, N);
    EXPECT_LT(max_rel_diff(y1, y2), 1e-7);
    scale_backward(da1.f32(), dy.f32(), 1.5f, N);
    scale_backward_ref(da2.f32(), dy.f32(), 1.5f, N);
    EXPECT_LT(max_rel_diff(da1, da2), 1e-6);
    float s1, s2;
    sum_forward(&s1, a.f32(), N);
    sum_forward_ref(&s2, a.f32(), N);
    EXPECT_NEAR(s1, s2, 1e-5 * std::max(1.0, std::sqrt(double(N))));
    sum_backward(da1.f32(), 0.25f, N);
    sum_backward_ref(da2.f32(), 0.25f, N);
    EXPECT_LT(max_rel_diff(da1, da2), 1e-6);
  }
}

OP_TEST(mul, gradient_and_broadcast) {
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mul(v[0], v[1]); },
                 {random_tensor({3, 17}, 1), random_tensor({3, 17}, 2)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mul(v[0], v[1]); },
                 {random_tensor({2, 3, 64}, 1), random_tensor({64}, 2)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mul(v[0], v[1]); },
                 {random_tensor({2, 3, 5}, 3), random_tensor({3, 5}, 4)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mul(v[0], v[1]); },
                 {random_tensor({1}, 5), random_tensor({1}, 6)});
}

OP_TEST(mul, bad_shapes_and_dtypes_name_the_op) {
  Tape tape;
  Var a = tape.leaf(Tensor::zeros({2, 3}), true), b = tape.leaf(Tensor::zeros({2}), true);
  expect_error([&] { mul(a, b); }, "[mul]", "(2, 3) and (2)");
  Var i = tape.leaf(Tensor::zeros({2, 3}, DType::i32), false);
  expect_error([&] { mul(a, i); }, "[mul]", "i32 (2, 3)");
  expect_error([&] { add(a, b); }, "[add]", "(2, 3) and (2)");
}

OP_TEST(scale, gradient) {
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return scale(v[0], -2.5f); },
                 {random_tensor({3, 17}, 1)});
  Tape tape;
  Var x = tape.leaf(random_tensor({4}, 2), true);
  EXPECT_FLOAT_EQ(scale(x, 3.0f).value().f32()[1], 3.0f * x.value().f32()[1]);
  expect_error([&] { scale(tape.leaf(Tensor::zeros({4}, DType::i32), false), 2.0f); }, "[scale]",
               "(4)");
}

OP_TEST(gelu_tanh, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return gelu(v[0], true); },
                   {random_tensor(s, 1, -4.0f, 4.0f)});
}

OP_TEST(gelu_tanh, records_its_op_and_matches_known_values) {
  Tape tape;
  Tensor x = Tensor::empty({3});
  x.f32()[0] = -1.0f, x.f32()[1] = 0.5f, x.f32()[2] = 2.0f;
  Var y = gelu(tape.leaf(x, true), true);
  EXPECT_EQ(tape.node(y).op, Op::gelu_tanh);
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) in double precision
  EXPECT_NEAR(y.value().f32()[0], -0.15880801f, 1e-6);
  EXPECT_NEAR(y.value().f32()[1], 0.34571401f, 1e-6);
  EXPECT_NEAR(y.value().f32()[2], 1.95459769f, 1e-6);
}

OP_TEST(gelu_erf, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return gelu(v[0], false); },
                   {random_tensor(s, 1, -4.0f, 4.0f)});
}

OP_TEST(gelu_erf, records_its_op_and_matches_known_values) {
  Tape tape;
  Tensor x = Tensor::empty({3});
  x.f32()[0] = -1.0f, x.f32()[1] = 0.5f, x.f32()[2] = 2.0f;
  Var y = gelu(tape.leaf(x, true), false);
  EXPECT_EQ(tape.node(y).op, Op::gelu_erf);
  // 0.5·x·(1 + erf(x/√2)) in double precision
  EXPECT_NEAR(y.value().f32()[0], -0.15865526f, 2e-6);
  EXPECT_NEAR(y.value().f32()[1], 0.34573123f, 2e-6);
  EXPECT_NEAR(y.value().f32()[2], 1.95449974f, 2e-6);
}

OP_TEST(relu, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return relu(v[0]); },
                   {away_from_zero(s, 1)});
}

TEST(ops, activations_reject_non_f32_naming_the_op) {
  Tape tape;
  Var i = tape.leaf(Tensor::zeros({2, 5}, DType::i32), false);
  expect_error([&] { gelu(i, true); }, "[gelu_tanh]", "i32 (2, 5)");
  expect_error([&] { gelu(i, false); }, "[gelu_erf]", "i32 (2, 5)");
  expect_error([&] { relu(i); }, "[relu]", "i32 (2, 5)");
  expect_error([&] { silu(i); }, "[silu]", "i32 (2, 5)");
  expect_error([&] { swiglu(i, i); }, "[swiglu]", "i32 (2, 5)");
}

OP_TEST(silu, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return silu(v[0]); },
                   {random_tensor(s, 1, -4.0f, 4.0f)});
}

OP_TEST(swiglu, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 3, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return swiglu(v[0], v[1]); },
                   {random_tensor(s, 1, -4.0f, 4.0f), random_tensor(s, 2)});
}

OP_TEST(swiglu, shape_mismatch_names_the_op) {
  Tape tape;
  expect_error(
      [&] {
        swiglu(tape.leaf(Tensor::zeros({2, 3}), true), tape.leaf(Tensor::zeros({2, 4}), true));
      },
      "[swiglu]", "gate (2, 3) and up (2, 4)");
}

OP_TEST(geglu, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 3, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return geglu(v[0], v[1]); },
                   {random_tensor(s, 1, -4.0f, 4.0f), random_tensor(s, 2)});
}

OP_TEST(geglu, is_gelu_tanh_times_up) {
  Tape tape;
  Var g = tape.leaf(random_tensor({3, 17}, 1, -3.0f, 3.0f), true);
  Var u = tape.leaf(random_tensor({3, 17}, 2), true);
  EXPECT_LT(max_rel_diff(geglu(g, u).value(), mul(gelu(g, true), u).value()), 1e-6);
  EXPECT_LT(max_rel_diff(swiglu(g, u).value(), mul(silu(g), u).value()), 1e-6);
  expect_error([&] { geglu(g, tape.leaf(Tensor::zeros({3, 16}), true)); }, "[geglu]", "(3, 16)");
}

OP_TEST(dropout, mask_statistics_and_scaling) {
  const int64_t N = 200001;
  const float p = 0.3f;
  Tape tape(42);
  Var y = dropout(tape.leaf(Tensor::full({N}, 1.0f), true), p);
  int64_t zeros = 0;
  bool scaled = true;
  for (int64_t i = 0; i < N; i++) {
    float v = y.value().f32()[i];
    if (v == 0.0f)
      zeros++;
    else
      scaled = scaled && std::fabs(v - 1.0f / (1.0f - p)) < 1e-6f;
  }
  EXPECT_TRUE(scaled);
  EXPECT_NEAR(double(zeros) / N, p, 0.005);
}

OP_TEST(dropout, identity_in_eval_and_for_p_zero) {
  Tape tape;
  Tensor x = random_tensor({3, 17}, 1);
  Var xv = tape.leaf(x, true);
  EXPECT_EQ(dropout(xv, 0.0f).id, xv.id);
  tape.training = false;
  Var y = dropout(xv, 0.5f);
  EXPECT_EQ(max_rel_diff(y.value(), x), 0.0);
}

OP_TEST(dropout, same_seed_same_mask_whatever_the_threads) {
  const int64_t N = 100003;
  Tensor x = random_tensor({N}, 1);
  Tape t1(7), t2(7), t3(8);
  Tensor y1 = dropout(t1.leaf(x, true), 0.5f).value();
  int prev = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor y2 = dropout(t2.leaf(x, true), 0.5f).value();
  omp_set_num_threads(prev);
  Tensor y3 = dropout(t3.leaf(x, true), 0.5f).value();
  EXPECT_EQ(max_rel_diff(y1, y2), 0.0);
  EXPECT_GT(max_rel_diff(y1, y3), 0.0);
  // Two calls on one tape draw different seeds.
  EXPECT_GT(max_rel_diff(y1, dropout(t1.leaf(x, true), 0.5f).value()), 0.0);
  Tensor r = Tensor::empty({N});
  dropout_forward_ref(r.f32(), x.f32(), uint64_t(t2.node(t2.size() - 1).i[0]), 0.5f, N);
  EXPECT_LT(max_rel_diff(y2, r), 1e-7);
}

OP_TEST(dropout, gradient_uses_the_forward_mask) {
  const int64_t N = 70001;
  Tape tape(3);
  Var x = tape.leaf(random_tensor({N}, 1, 0.5f, 1.5f), true);
  Var y = dropout(x, 0.25f);
  Tensor dy = random_tensor({N}, 2);
  tape.backward_from(y, dy);
  const float *xv = x.value().f32(), *yv = y.value().f32(), *gx = x.grad().f32();
  int64_t bad = 0;
  for (int64_t i = 0; i < N; i++) bad += std::fabs(gx[i] - dy.f32()[i] * yv[i] / xv[i]) > 1e-5f;
  EXPECT_EQ(bad, 0);
  Tensor ref = Tensor::zeros({N});
  dropout_backward_ref(ref.f32(), dy.f32(), uint64_t(tape.node(y).i[0]), 0.25f, N);
  EXPECT_LT(max_rel_diff(x.grad(), ref), 1e-6);
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return dropout(v[0], 0.4f); },
                 {random_tensor({3, 17}, 4)});
}

OP_TEST(dropout, bad_p_is_an_error) {
  Tape tape;
  Var x = tape.leaf(Tensor::zeros({2, 3}), true);
  expect_error([&] { dropout(x, 1.0f); }, "[dropout]", "(2, 3)");
  expect_error([&] { dropout(x, -0.1f); }, "[dropout]", "(2, 3)");
}

// gelu_tanh_bf16 (the MLP activation a bf16 tape keeps): its output is gelu_tanh's rounded to bf16
// bit for bit at any length (register tails, one chunk or many, over threads), and its input
// gradient is gelu_tanh's.
TEST(ops, gelu_tanh_bf16_is_gelu_tanh_rounded_with_the_same_gradient) {
  for (int64_t n : {1, 15, 16, 17, 1023, 1024, 1025, 5000, 100003}) {
    const Tensor x = random_tensor({n}, uint64_t(n), -6.0f, 6.0f);
    std::vector<float> y(static_cast<size_t>(n));
    std::vector<uint16_t> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    gelu_tanh_forward(y.data(), x.f32(), n);
    round_to_bf16(y.data(), want.data(), n);
    gelu_tanh_forward_bf16(got.data(), x.f32(), n);
    ASSERT_EQ(got, want) << "n=" << n;
  }
  const Tensor xt = random_tensor({6, 40}, 7, -4.0f, 4.0f), dy = random_tensor({6, 40}, 8);
  Tensor g[2];
  for (int bf16 = 0; bf16 < 2; bf16++) {
    Tape tape;
    Var x = tape.leaf(xt, true);
    Var y = bf16 ? gelu_tanh_bf16(x) : gelu(x, true);
    EXPECT_EQ(y.value().dtype(), bf16 ? DType::bf16 : DType::f32);
    tape.backward_from(y, dy);
    g[bf16] = x.grad().contiguous_copy();
  }
  EXPECT_EQ(0, std::memcmp(g[0].raw(), g[1].raw(), g[0].nbytes()));
}
