#include <functional>
#include <vector>

#include "kernels/shape.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

TEST(kernels, block_copy_and_gather_match_reference) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {300, 257}}) {
    Tensor src = random_tensor({rows, cols + 5}, 1);
    Tensor d1 = random_tensor({rows, cols + 2}, 2), d2 = d1.contiguous_copy();
    block_copy(d1.f32(), cols + 2, src.f32() + 3, cols + 5, rows, cols);
    block_copy_ref(d2.f32(), cols + 2, src.f32() + 3, cols + 5, rows, cols);
    EXPECT_EQ(max_rel_diff(d1, d2), 0.0);
    block_add(d1.f32(), cols + 2, src.f32(), cols + 5, rows, cols);
    block_add_ref(d2.f32(), cols + 2, src.f32(), cols + 5, rows, cols);
    EXPECT_EQ(max_rel_diff(d1, d2), 0.0);
  }
  Tensor x = random_tensor({3, 17, 64, 33}, 3);
  for (auto [a, b] : {std::pair{0, 1}, {1, 3}, {2, 3}, {0, 3}}) {
    Tensor v = x.transpose(a, b);
    int64_t shape[4], strides[4];
    for (int i = 0; i < 4; i++) shape[i] = v.size(i), strides[i] = v.stride(i);
    Tensor o1 = random_tensor(v.shape(), 4), o2 = o1.contiguous_copy();
    gather_4d(o1.f32(), x.f32(), shape, strides, false);
    EXPECT_EQ(max_rel_diff(o1, v.contiguous_copy()), 0.0);
    gather_4d(o1.f32(), x.f32(), shape, strides, true);
    gather_4d_ref(o2.f32(), x.f32(), shape, strides, false);
    gather_4d_ref(o2.f32(), x.f32(), shape, strides, true);
    EXPECT_EQ(max_rel_diff(o1, o2), 0.0);
  }
}

OP_TEST(reshape, is_a_view_with_gradient) {
  Tape tape;
  Var x = tape.leaf(random_tensor({2, 3, 4}, 1), true);
  Var y = reshape(x, {6, -1});
  EXPECT_EQ(y.shape(), Shape({6, 4}));
  EXPECT_EQ(y.value().raw(), x.value().raw());
  EXPECT_GRAD_OK(
      [](Tape&, const std::vector<Var>& v) {
        return reshape(v[0], {17, 3});
      },
      {random_tensor({3, 17}, 2)});
  EXPECT_GRAD_OK(
      [](Tape&, const std::vector<Var>& v) {
        return mul(reshape(v[0], {-1}), reshape(v[0], {51}));
      },
      {random_tensor({3, 1, 17}, 3)});
  expect_error([&] { reshape(x, {5, 5}); }, "[reshape]", "(2, 3, 4)");
}

OP_TEST(transpose, values_and_gradient) {
  Tape tape;
  Tensor xt = random_tensor({2, 3, 5}, 1);
  Var y = transpose(tape.leaf(xt, true), 0, -1);
  EXPECT_EQ(y.shape(), Shape({5, 3, 2}));
  EXPECT_EQ(y.value().at({4, 1, 0}), xt.at({0, 1, 4}));
  for (auto [a, b] : {std::pair{0, 2}, {1, 2}, {-1, -2}, {1, 1}})
    EXPECT_GRAD_OK(
        [a = a, b = b](Tape&, const std::vector<Var>& v) { return transpose(v[0], a, b); },
        {random_tensor({2, 3, 17}, 2)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return transpose(v[0], 1, 3); },
                 {random_tensor({2, 3, 1, 5}, 3)});
  expect_error([&] { transpose(tape.leaf(xt, true), 0, 3); }, "[transpose]", "(2, 3, 5)");
}

OP_TEST(concat, values_and_gradient) {
  Tape tape;
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({2, 5}, 2);
  Var y = concat({tape.leaf(a, true), tape.leaf(b, true)}, -1);
  EXPECT_EQ(y.shape(), Shape({2, 8}));
  EXPECT_EQ(y.value().at({1, 2}), a.at({1, 2}));
  EXPECT_EQ(y.value().at({1, 3}), b.at({1, 0}));
  auto cat_dim = [](int d) {
    return [d](Tape&, const std::vector<Var>& v) { return concat(v, d); };
  };
  EXPECT_GRAD_OK(cat_dim(0), {random_tensor({1, 3, 4}, 1), random_tensor({2, 3, 4}, 2)});
  EXPECT_GRAD_OK(cat_dim(1), {random_tensor({2, 3, 4}, 1), random_tensor({2, 1, 4}, 2),
                              random_tensor({2, 17, 4}, 3)});
  EXPECT_GRAD_OK(cat_dim(-1), {random_tensor({2, 3}, 1)});
  std::vector<Tensor> six;
  for (int k = 0; k < 6; k++) six.push_back(random_tensor({2, k + 1}, uint64_t(k)));
  EXPECT_GRAD_OK(cat_dim(1), six);
  expect_error(
      [&] {
        concat({tape.leaf(a, true), tape.leaf(b, true)}, 0);
      },
      "[concat]", "(2, 3) and (2, 5)");
  expect_error([&] { concat({}, 0); }, "[concat]", "at least one");
}

OP_TEST(slice, values_and_gradient) {
  Tape tape;
  Tensor xt = random_tensor({3, 17, 2}, 1);
  Var y = slice(tape.leaf(xt, true), 1, 4, 9);
  EXPECT_EQ(y.shape(), Shape({3, 9, 2}));
  EXPECT_EQ(y.value().at({2, 0, 1}), xt.at({2, 4, 1}));
  for (int d : {0, 1, -1})
    EXPECT_GRAD_OK([d](Tape&, const std::vector<Var>& v) { return slice(v[0], d, 1, 1); },
                   {random_tensor({3, 17, 2}, 2)});
  expect_error([&] { slice(tape.leaf(xt, true), 1, 10, 8); }, "[slice]", "(3, 17, 2)");
}

OP_TEST(sum, value_shape_and_gradient) {
  Tape tape;
  Tensor xt = random_tensor({3, 17}, 1);
  Var s = sum(tape.leaf(xt, true));
  EXPECT_EQ(s.shape().ndim, 0);
  EXPECT_EQ(s.value().numel(), 1);
  double ref = 0;
  for (int64_t i = 0; i < xt.numel(); i++) ref += xt.f32()[i];
  EXPECT_NEAR(s.value().f32()[0], ref, 1e-5);
  tape.backward(s);
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return sum(v[0]); },
                 {random_tensor({2, 3, 64}, 2)});
  expect_error([&] { sum(tape.leaf(Tensor::zeros({2}, DType::i32), false)); }, "[sum]", "(2)");
}

OP_TEST(mean, value_shape_and_gradient) {
  Tape tape;
  Tensor xt = random_tensor({3, 17}, 1);
  Var m = mean(tape.leaf(xt, true));
  EXPECT_EQ(m.shape().ndim, 0);
  double ref = 0;
  for (int64_t i = 0; i < xt.numel(); i++) ref += xt.f32()[i] / 51.0;
  EXPECT_NEAR(m.value().f32()[0], ref, 1e-6);
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mean(v[0]); },
                 {random_tensor({1}, 2)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return mean(v[0]); },
                 {random_tensor({2, 3, 64}, 3)});
  expect_error([&] { mean(tape.leaf(Tensor::zeros({2}, DType::i32), false)); }, "[mean]", "(2)");
}
