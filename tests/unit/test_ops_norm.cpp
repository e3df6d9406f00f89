#include <omp.h>

#include <functional>
#include <vector>

#include "kernels/norm.h"
#include "kernels/softmax.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

const std::pair<int64_t, int64_t> kRowsCols[] = {{1, 1}, {3, 17}, {64, 64}, {130, 7}, {300, 257}};

}  // namespace

TEST(kernels, layer_norm_matches_reference) {
  for (auto [N, C] : kRowsCols)
    for (int affine = 0; affine < 4; affine++) {
      Tensor x = random_tensor({N, C}, 1, -2.0f, 3.0f), w = random_tensor({C}, 2),
             b = random_tensor({C}, 3), dy = random_tensor({N, C}, 4);
      const float* wp = affine & 1 ? w.f32() : nullptr;
      const float* bp = affine & 2 ? b.f32() : nullptr;
      Tensor y1 = Tensor::empty({N, C}), y2 = Tensor::empty({N, C});
      Tensor m1 = Tensor::empty({N}), m2 = Tensor::empty({N}), r1 = Tensor::empty({N}),
             r2 = Tensor::empty({N});
      layer_norm_forward(y1.f32(), m1.f32(), r1.f32(), x.f32(), wp, bp, N, C, 1e-5f);
      layer_norm_forward_ref(y2.f32(), m2.f32(), r2.f32(), x.f32(), wp, bp, N, C, 1e-5f);
      EXPECT_LT(max_rel_diff(y1, y2), 2e-6) << N << "x" << C;
      EXPECT_LT(max_rel_diff(m1, m2), 2e-6);
      EXPECT_LT(max_rel_diff(r1, r2), 2e-6);
      Tensor dx1 = random_tensor({N, C}, 5), dx2 = dx1.contiguous_copy();
      Tensor dw1 = random_tensor({C}, 6), dw2 = dw1.contiguous_copy();
      Tensor db1 = random_tensor({C}, 7), db2 = db1.contiguous_copy();
      layer_norm_backward(dx1.f32(), dw1.f32(), db1.f32(), dy.f32(), x.f32(), wp, m2.f32(),
                          r2.f32(), N, C);
      layer_norm_backward_ref(dx2.f32(), dw2.f32(), db2.f32(), dy.f32(), x.f32(), wp, m2.f32(),
                              r2.f32(), N, C);
      EXPECT_LT(max_rel_diff(dx1, dx2), 1e-5) << N << "x" << C;
      EXPECT_LT(max_rel_diff(dw1, dw2), 1e-5);
      EXPECT_LT(max_rel_diff(db1, db2), 1e-5);
    }
}

TEST(kernels, layer_norm_backward_is_the_same_on_any_thread_count) {
  int64_t N = 300, C = 257;
  Tensor x = random_tensor({N, C}, 1), w = random_tensor({C}, 2), dy = random_tensor({N, C}, 3);
  Tensor m = Tensor::empty({N}), r = Tensor::empty({N}), y = Tensor::empty({N, C});
  layer_norm_forward(y.f32(), m.f32(), r.f32(), x.f32(), w.f32(), nullptr, N, C, 1e-5f);
  Tensor dx[2], dw[2], db[2];
  int prev = omp_get_max_threads();
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    dx[k] = Tensor::zeros({N, C}), dw[k] = Tensor::zeros({C}), db[k] = Tensor::zeros({C});
    layer_norm_backward(dx[k].f32(), dw[k].f32(), db[k].f32(), dy.f32(), x.f32(), w.f32(), m.f32(),
                        r.f32(), N, C);
  }
  omp_set_num_threads(prev);
  EXPECT_EQ(max_rel_diff(dx[0], dx[1]), 0.0);
  EXPECT_EQ(max_rel_diff(dw[0], dw[1]), 0.0);
  EXPECT_EQ(max_rel_diff(db[0], db[1]), 0.0);
}

TEST(kernels, rms_norm_matches_reference) {
  for (auto [N, C] : kRowsCols)
    for (bool affine : {false, true}) {
      Tensor x = random_tensor({N, C}, 1, -2.0f, 3.0f), w = random_tensor({C}, 2),
             dy = random_tensor({N, C}, 4);
      const float* wp = affine ? w.f32() : nullptr;
      Tensor y1 = Tensor::empty({N, C}), y2 = Tensor::empty({N, C});
      Tensor r1 = Tensor::empty({N}), r2 = Tensor::empty({N});
      rms_norm_forward(y1.f32(), r1.f32(), x.f32(), wp, N, C, 1e-6f);
      rms_norm_forward_ref(y2.f32(), r2.f32(), x.f32(), wp, N, C, 1e-6f);
      EXPECT_LT(max_rel_diff(y1, y2), 2e-6);
      EXPECT_LT(max_rel_diff(r1, r2), 2e-6);
      Tensor dx1 = random_tensor({N, C}, 5), dx2 = dx1.contiguous_copy();
      Tensor dw1 = random_tensor({C}, 6), dw2 = dw1.contiguous_copy();
      rms_norm_backward(dx1.f32(), dw1.f32(), dy.f32(), x.f32(), wp, r2.f32(), N, C);
      rms_norm_backward_ref(dx2.f32(), dw2.f32(), dy.f32(), x.f32(), wp, r2.f32(), N, C);
      EXPECT_LT(max_rel_diff(dx1, dx2), 1e-5) << N << "x" << C;
      EXPECT_LT(max_rel_diff(dw1, dw2), 1e-5);
    }
}

TEST(kernels, softmax_matches_reference) {
  for (auto [N, C] : kRowsCols) {
    // Large logits: the max subtraction must keep exp in range.
    Tensor x = random_tensor({N, C}, 1, -30.0f, 60.0f), dy = random_tensor({N, C}, 2);
    Tensor y1 = Tensor::empty({N, C}), y2 = Tensor::empty({N, C});
    softmax_forward(y1.f32(), x.f32(), N, C);
    softmax_forward_ref(y2.f32(), x.f32(), N, C);
    EXPECT_LT(max_rel_diff(y1, y2), 2e-6) << N << "x" << C;
    Tensor dx1 = random_tensor({N, C}, 3), dx2 = dx1.contiguous_copy();
    softmax_backward(dx1.f32(), dy.f32(), y2.f32(), N, C);
    softmax_backward_ref(dx2.f32(), dy.f32(), y2.f32(), N, C);
    EXPECT_LT(max_rel_diff(dx1, dx2), 1e-5);
  }
}

OP_TEST(layer_norm, gradient_with_and_without_affine) {
  for (Shape s : {Shape{1, 3}, Shape{2, 3, 17}, Shape{3, 64}}) {
    int64_t C = s[-1];
    Tensor x = random_tensor(s, 1, -2.0f, 2.0f), w = random_tensor({C}, 2, 0.5f, 1.5f),
           b = random_tensor({C}, 3);
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return layer_norm(v[0], v[1], v[2]); },
                   {x, w, b});
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return layer_norm(v[0], v[1], {}); },
                   {x, w});
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return layer_norm(v[0], {}, v[1]); },
                   {x, b});
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return layer_norm(v[0], {}, {}); }, {x});
  }
}

OP_TEST(layer_norm, normalises_rows) {
  Tape tape;
  Var y = layer_norm(tape.leaf(random_tensor({5, 33}, 1, 3.0f, 9.0f), true), {}, {});
  for (int64_t n = 0; n < 5; n++) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < 33; c++) m += y.value().at({n, c}) / 33.0;
    for (int64_t c = 0; c < 33; c++) v += std::pow(y.value().at({n, c}) - m, 2) / 33.0;
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(v, 1.0, 1e-3);
  }
}

OP_TEST(layer_norm, bad_shapes_name_the_op) {
  Tape tape;
  Var x = tape.leaf(Tensor::zeros({2, 3, 4}), true);
  expect_error([&] { layer_norm(x, tape.leaf(Tensor::zeros({5}), true), {}); }, "[layer_norm]",
               "w (5) f32 does not match x (2, 3, 4)");
  expect_error(
      [&] {
        layer_norm(x, {}, tape.leaf(Tensor::zeros({4, 1}), true));
      },
      "[layer_norm]", "b (4, 1)");
  expect_error(
      [&] {
        layer_norm(tape.leaf(Tensor::zeros({2, 4}, DType::i32), false), {}, {});
      },
      "[layer_norm]", "i32 (2, 4)");
}

OP_TEST(rms_norm, gradient) {
  // C = 1 is left out: there y = sign(x)·w and the gradient is below float resolution.
  for (Shape s : {Shape{1, 3}, Shape{2, 3, 17}, Shape{3, 64}}) {
    int64_t C = s[-1];
    Tensor x = random_tensor(s, 1, -2.0f, 2.0f), w = random_tensor({C}, 2, 0.5f, 1.5f);
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return rms_norm(v[0], v[1]); }, {x, w});
  }
}

OP_TEST(rms_norm, is_t5_layer_norm) {
  Tape tape;
  Tensor x = random_tensor({3, 17}, 1), w = random_tensor({17}, 2);
  Var y = rms_norm(tape.leaf(x, true), tape.leaf(w, true), 1e-6f);
  for (int64_t n = 0; n < 3; n++) {
    double ss = 0;
    for (int64_t c = 0; c < 17; c++) ss += double(x.at({n, c})) * x.at({n, c}) / 17.0;
    for (int64_t c = 0; c < 17; c++)
      EXPECT_NEAR(y.value().at({n, c}), x.at({n, c}) / std::sqrt(ss + 1e-6) * w.f32()[c], 1e-5);
  }
  expect_error([&] { rms_norm(tape.leaf(x, true), tape.leaf(Tensor::zeros({16}), true)); },
               "[rms_norm]", "w (16) f32 does not match x (3, 17)");
}

OP_TEST(softmax, gradient) {
  for (Shape s : {Shape{1}, Shape{3, 17}, Shape{2, 3, 64}})
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return softmax(v[0]); },
                   {random_tensor(s, 1, -3.0f, 3.0f)});
}

OP_TEST(softmax, rows_sum_to_one_and_errors_name_the_op) {
  Tape tape;
  Var y = softmax(tape.leaf(random_tensor({4, 1000}, 1, -50.0f, 50.0f), true));
  for (int64_t n = 0; n < 4; n++) {
    double s = 0;
    for (int64_t c = 0; c < 1000; c++) s += y.value().at({n, c});
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  // Masked (-inf) entries get exactly 0, as with an additive attention mask.
  Tensor m = random_tensor({2, 5}, 2);
  m.f32()[1] = m.f32()[7] = -INFINITY;
  Var ym = softmax(tape.leaf(m, true));
  EXPECT_EQ(ym.value().f32()[1], 0.0f);
  EXPECT_EQ(ym.value().f32()[7], 0.0f);
  Var i = tape.leaf(Tensor::zeros({2, 4}, DType::i32), false);
  expect_error([&] { softmax(i); }, "[softmax]", "(2, 4)");
}
