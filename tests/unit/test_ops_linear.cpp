#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/linear.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

struct GemmCase {
  bool ta, tb;
  int M, N, K;
};

void check_gemm(void (*fn)(bool, bool, int, int, int, float, const float*, int, const float*, int,
                           float, float*, int),
                const GemmCase& c) {
  int lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 1, ldc = c.N + 2;
  Tensor A = random_tensor({c.ta ? c.K : c.M, lda}, 1),
         B = random_tensor({c.tb ? c.N : c.K, ldb}, 2);
  Tensor C1 = random_tensor({c.M, ldc}, 3), C2 = C1.contiguous_copy();
  fn(c.ta, c.tb, c.M, c.N, c.K, 0.5f, A.f32(), lda, B.f32(), ldb, 0.25f, C1.f32(), ldc);
  sgemm_ref(c.ta, c.tb, c.M, c.N, c.K, 0.5f, A.f32(), lda, B.f32(), ldb, 0.25f, C2.f32(), ldc);
  EXPECT_LT(max_rel_diff(C1, C2), 1e-5) << c.ta << c.tb << " " << c.M << "x" << c.N << "x" << c.K;
}

}  // namespace

TEST(gemm, fast_paths_match_reference) {
  std::vector<GemmCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [m, n, k] : {std::tuple{1, 1, 1},
                             {3, 17, 5},
                             {64, 64, 64},
                             {17, 1, 130},
                             {129, 65, 33},
                             {45, 160, 300},
                             {33, 130, 200}})  // the last two: sgemm_direct inside sgemm()
        cases.push_back({ta, tb, m, n, k});
  for (auto& c : cases) {
    check_gemm(&sgemm, c);
    check_gemm(&sgemm_builtin, c);
    check_gemm([](bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C,
                  int ldc) { sgemm_direct(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); },
               c);
  }
}

TEST(kernels, linear_matches_reference) {
  // {64, 48, 96} and {45, 40, 160}: the bias inside sgemm_direct's pass (whole and partial tiles).
  for (auto [N, IN, OUT] :
       {std::tuple{1, 1, 1}, {3, 17, 5}, {64, 48, 96}, {130, 7, 33}, {45, 40, 160}}) {
    Tensor x = random_tensor({N, IN}, 1), w = random_tensor({OUT, IN}, 2),
           b = random_tensor({OUT}, 3);
    Tensor y1 = Tensor::empty({N, OUT}), y2 = Tensor::empty({N, OUT});
    linear_forward(y1.f32(), x.f32(), w.f32(), b.f32(), N, IN, OUT);
    linear_forward_ref(y2.f32(), x.f32(), w.f32(), b.f32(), N, IN, OUT);
    EXPECT_LT(max_rel_diff(y1, y2), 1e-5);
    // With a residual added (in the product's pass on the direct path), with and without bias.
    Tensor r = random_tensor({N, OUT}, 8);
    for (const float* bias :
         {static_cast<const float*>(b.f32()), static_cast<const float*>(nullptr)}) {
      linear_forward(y1.f32(), x.f32(), w.f32(), bias, N, IN, OUT, r.f32());
      linear_forward_ref(y2.f32(), x.f32(), w.f32(), bias, N, IN, OUT, r.f32());
      EXPECT_LT(max_rel_diff(y1, y2), 1e-5) << "residual, bias " << (bias != nullptr);
    }
    Tensor dy = random_tensor({N, OUT}, 4);
    Tensor dx1 = random_tensor({N, IN}, 5), dx2 = dx1.contiguous_copy();
    Tensor dw1 = random_tensor({OUT, IN}, 6), dw2 = dw1.contiguous_copy();
    Tensor db1 = random_tensor({OUT}, 7), db2 = db1.contiguous_copy();
    linear_backward(dx1.f32(), dw1.f32(), db1.f32(), dy.f32(), x.f32(), w.f32(), N, IN, OUT);
    linear_backward_ref(dx2.f32(), dw2.f32(), db2.f32(), dy.f32(), x.f32(), w.f32(), N, IN, OUT);
    EXPECT_LT(max_rel_diff(dx1, dx2), 1e-5);
    EXPECT_LT(max_rel_diff(dw1, dw2), 1e-5);
    EXPECT_LT(max_rel_diff(db1, db2), 1e-5);
  }
}

// overwrite_dinp writes dx over garbage (NaN) instead of adding: the tape's fresh buffers.
TEST(kernels, linear_backward_overwrite_matches_reference_into_zeros) {
  for (auto [N, IN, OUT] : {std::tuple{1, 1, 1}, {3, 17, 5}, {600, 64, 300}}) {
    Tensor x = random_tensor({N, IN}, 1), w = random_tensor({OUT, IN}, 2),
           dy = random_tensor({N, OUT}, 4);
    Tensor dx1 = Tensor::full({N, IN}, NAN), dx2 = Tensor::zeros({N, IN});
    linear_backward(dx1.f32(), nullptr, nullptr, dy.f32(), x.f32(), w.f32(), N, IN, OUT, true);
    linear_backward_ref(dx2.f32(), nullptr, nullptr, dy.f32(), x.f32(), w.f32(), N, IN, OUT);
    EXPECT_LT(max_rel_diff(dx1, dx2), 1e-5);
  }
}

TEST(kernels, embedding_backward_matches_reference) {
  int64_t N = 300, C = 33, V = 7;
  Tensor ids = random_ids({N}, int32_t(V), 1), dout = random_tensor({N, C}, 2);
  Tensor d1 = Tensor::zeros({V, C}), d2 = Tensor::zeros({V, C});
  embedding_backward(d1.f32(), dout.f32(), ids.i32(), N, C);
  embedding_backward_ref(d2.f32(), dout.f32(), ids.i32(), N, C);
  EXPECT_LT(max_rel_diff(d1, d2), 1e-6);
}

OP_TEST(linear, gradient) {
  for (auto [B, T, IN, OUT] : {std::tuple{1, 1, 1, 1}, {2, 3, 17, 5}, {1, 4, 3, 64}}) {
    std::vector<Tensor> in = {random_tensor({B, T, IN}, 1), random_tensor({OUT, IN}, 2),
                              random_tensor({OUT}, 3)};
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, in);
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return linear(v[0], v[1]); },
                   {in[0], in[1]});
  }
}

OP_TEST(linear, residual_gradient) {
  for (auto [B, T, IN, OUT] : {std::tuple{2, 3, 17, 5}, {1, 20, 8, 32}}) {
    std::vector<Tensor> in = {random_tensor({B, T, IN}, 1), random_tensor({OUT, IN}, 2),
                              random_tensor({OUT}, 3), random_tensor({B, T, OUT}, 4)};
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return linear(v[0], v[1], v[2], v[3]); },
                   in);
    EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return linear(v[0], v[1], {}, v[2]); },
                   {in[0], in[1], in[3]});
  }
  // The residual is the input itself (x + W·x): both gradients land in one buffer.
  std::vector<Tensor> sq = {random_tensor({2, 20, 32}, 5), random_tensor({32, 32}, 6)};
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return linear(v[0], v[1], {}, v[0]); }, sq);
  // And it equals linear then add, value and gradients.
  Tape tape;
  Var x = tape.leaf(sq[0], true), w = tape.leaf(sq[1], true);
  Var y = linear(x, w, {}, x);
  Tensor y_fused = y.value().contiguous_copy();
  Var y2 = add(x, linear(x, w));
  EXPECT_LT(max_rel_diff(y_fused, y2.value()), 1e-6);
}

OP_TEST(linear, residual_shape_error) {
  Tape tape;
  Var x = tape.leaf(random_tensor({2, 3}, 1), true), w = tape.leaf(random_tensor({4, 3}, 2), true);
  Var r = tape.leaf(random_tensor({2, 5}, 3), true);
  expect_error([&] { linear(x, w, {}, r); }, "[linear]", "residual (2, 5)");
}

OP_TEST(linear, shape_errors_name_the_op) {
  Tape tape;
  Var x = tape.leaf(Tensor::zeros({2, 3}), true), w = tape.leaf(Tensor::zeros({4, 5}), true);
  try {
    linear(x, w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[linear] x (2, 3) and w (4, 5)"), std::string::npos)
        << e.what();
  }
}

OP_TEST(embedding, gradient) {
  Tensor ids = random_ids({2, 3}, 5, 9);
  ids.i32()[4] = ids.i32()[0];  // a repeated id accumulates
  EXPECT_GRAD_OK([&](Tape&, const std::vector<Var>& v) { return embedding(v[0], ids); },
                 {random_tensor({5, 17}, 1)});
}

OP_TEST(embedding, out_of_range_id_is_an_error) {
  Tape tape;
  Var t = tape.leaf(Tensor::zeros({4, 2}), true);
  Tensor ids = Tensor::zeros({3}, DType::i32);
  ids.i32()[1] = 4;
  EXPECT_THROW(embedding(t, ids), Error);
  EXPECT_THROW(embedding(t, Tensor::zeros({3})), Error);  // wrong dtype
}

OP_TEST(matmul, gradient) {
  for (bool tb : {false, true}) {
    EXPECT_GRAD_OK(
        [tb](Tape&, const std::vector<Var>& v) { return matmul(v[0], v[1], tb); },
        {random_tensor({2, 3, 5}, 1), random_tensor(tb ? Shape{2, 4, 5} : Shape{2, 5, 4}, 2)});
    EXPECT_GRAD_OK(
        [tb](Tape&, const std::vector<Var>& v) { return matmul(v[0], v[1], tb); },
        {random_tensor({2, 3, 17}, 3), random_tensor(tb ? Shape{1, 17} : Shape{17, 1}, 4)});
  }
}

OP_TEST(add, gradient_and_broadcast) {
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return add(v[0], v[1]); },
                 {random_tensor({3, 17}, 1), random_tensor({3, 17}, 2)});
  EXPECT_GRAD_OK([](Tape&, const std::vector<Var>& v) { return add(v[0], v[1]); },
                 {random_tensor({2, 3, 64}, 1), random_tensor({64}, 2)});
  Tape tape;
  EXPECT_THROW(add(tape.leaf(Tensor::zeros({2, 3}), true), tape.leaf(Tensor::zeros({2}), true)),
               Error);
}

TEST(autograd, backward_twice_without_retain_is_an_error) {
  Tape tape;
  Var x = tape.leaf(random_tensor({2, 3}, 1), true), w = tape.leaf(random_tensor({1, 3}, 2), true);
  Var y = linear(x, w);
  Tensor g = Tensor::full({2, 1}, 1.0f);
  tape.backward_from(y, g, /*retain=*/true);
  tape.backward_from(y, g);
  EXPECT_THROW(tape.backward_from(y, g), Error);
}

TEST(autograd, gradients_accumulate_into_parameters) {
  Tensor w = random_tensor({4, 3}, 1), gw = Tensor::zeros({4, 3});
  Tensor x = random_tensor({2, 3}, 2), dy = random_tensor({2, 4}, 3);
  for (int step = 0; step < 2; step++) {
    Tape tape;
    Var y = linear(tape.constant(x), tape.param(w, gw));
    tape.backward_from(y, dy);
  }
  Tensor ref = Tensor::zeros({4, 3});
  linear_backward_ref(nullptr, ref.f32(), nullptr, dy.f32(), x.f32(), w.f32(), 2, 3, 4);
  for (int64_t i = 0; i < ref.numel(); i++) EXPECT_NEAR(gw.f32()[i], 2 * ref.f32()[i], 1e-5);
}

TEST(autograd, no_grad_records_nothing_to_differentiate) {
  Tape tape;
  Tensor w = random_tensor({4, 3}, 1), gw = Tensor::zeros({4, 3});
  Var y;
  {
    NoGrad ng(tape);
    y = linear(tape.constant(random_tensor({2, 3}, 2)), tape.param(w, gw));
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(tape.backward_from(y, Tensor::full({2, 4}, 1.0f)), Error);
}

OP_TEST(token_logits, matches_reference_and_gradient) {
  // Columns 1 and 6 of the (2, 3, 7) logits come from the two rows; odd widths.
  Tensor ids = Tensor::empty({2}, DType::i32);
  ids.i32()[0] = 6, ids.i32()[1] = 1;
  EXPECT_GRAD_OK(
      [&](Tape&, const std::vector<Var>& v) { return token_logits(v[0], v[1], v[2], ids); },
      {random_tensor({2, 3, 7}, 1), random_tensor({2, 3, 5}, 2), random_tensor({2, 5}, 3)});
  for (int64_t C : {1, 17, 64}) {
    const Tensor base = random_tensor({3, 11}, 4), x = random_tensor({3, C}, 5),
                 rows = random_tensor({2, C}, 6);
    Tensor fast = Tensor::empty({3, 11}), ref = Tensor::empty({3, 11});
    token_logits_forward(fast.f32(), base.f32(), x.f32(), rows.f32(), ids.i32(), 3, 11, C, 2);
    token_logits_forward_ref(ref.f32(), base.f32(), x.f32(), rows.f32(), ids.i32(), 3, 11, C, 2);
    for (int64_t i = 0; i < fast.numel(); i++) EXPECT_NEAR(fast.f32()[i], ref.f32()[i], 1e-5);
    EXPECT_EQ(fast.f32()[2], base.f32()[2]);  // other columns are base's, untouched
  }
  Tape tape;
  Tensor bad = Tensor::empty({1}, DType::i32);
  bad.i32()[0] = 11;
  expect_error(
      [&] {
        token_logits(tape.leaf(random_tensor({3, 11}, 1), true),
                     tape.leaf(random_tensor({3, 4}, 2), true),
                     tape.leaf(random_tensor({1, 4}, 3), true), bad);
      },
      "[token_logits]", "out of range");
}

// A tape with bf16_products (train.precision = bf16): the linear op's forward and both
// backward products take bf16-rounded inputs with fp32 sums; the bias gradient stays an fp32 sum.
TEST(kernels, linear_on_a_bf16_tape_multiplies_in_bf16) {
  const int N = 70, IN = 48, OUT = 40;
  Tensor xt = random_tensor({N, IN}, 1), wt = random_tensor({OUT, IN}, 2),
         bt = random_tensor({OUT}, 3), dy = random_tensor({N, OUT}, 4);
  Tape tape;
  tape.bf16_products = true;
  Var x = tape.leaf(xt, true), w = tape.leaf(wt, true), b = tape.leaf(bt, true);
  Var y = linear(x, w, b);
  tape.backward_from(y, dy);
  Tensor y_ref = Tensor::empty({N, OUT}), dx_ref = Tensor::zeros({N, IN}),
         dw_ref = Tensor::zeros({OUT, IN}), y32 = Tensor::empty({N, OUT});
  gemm_bf16_ref(false, true, N, OUT, IN, xt.f32(), IN, wt.f32(), IN, 0.0f, y_ref.f32(), OUT,
                bt.f32());
  gemm_bf16_ref(false, false, N, IN, OUT, dy.f32(), OUT, wt.f32(), IN, 0.0f, dx_ref.f32(), IN);
  gemm_bf16_ref(true, false, OUT, IN, N, dy.f32(), OUT, xt.f32(), IN, 0.0f, dw_ref.f32(), IN);
  EXPECT_LT(max_rel_diff(y.value(), y_ref), 1e-5);
  EXPECT_LT(max_rel_diff(x.grad(), dx_ref), 1e-5);
  EXPECT_LT(max_rel_diff(w.grad(), dw_ref), 1e-5);
  Tensor db_ref = Tensor::zeros({OUT});
  linear_backward_ref(nullptr, nullptr, db_ref.f32(), dy.f32(), xt.f32(), wt.f32(), N, IN, OUT);
  EXPECT_LT(max_rel_diff(b.grad(), db_ref), 1e-6);
  // And it is not the fp32 product (bf16 keeps 8 bits of mantissa: ~1e-3 relative).
  linear_forward_ref(y32.f32(), xt.f32(), wt.f32(), bt.f32(), N, IN, OUT);
  EXPECT_GT(max_rel_diff(y.value(), y32), 1e-4);
}

// A bf16 input (a stored activation) on a bf16 tape: output, input, weight and bias gradients
// are the bits of the f32 input it was rounded from, since the products round it so anyway.
TEST(kernels, linear_on_a_bf16_input_equals_its_f32_input) {
  const int N = 70, IN = 48, OUT = 40;
  const Tensor xt = random_tensor({N, IN}, 1), wt = random_tensor({OUT, IN}, 2),
               bt = random_tensor({OUT}, 3), dy = random_tensor({N, OUT}, 4);
  Tensor x16 = Tensor::empty({N, IN}, DType::bf16);
  round_to_bf16(xt.f32(), x16.data<uint16_t>(), x16.numel());
  Tensor got[2][4];  // y, dx, dw, db
  for (int bf16 = 0; bf16 < 2; bf16++) {
    Tape tape;
    tape.bf16_products = true;
    Var x = tape.leaf(bf16 ? x16 : xt, true), w = tape.leaf(wt, true), b = tape.leaf(bt, true);
    Var y = linear(x, w, b);
    tape.backward_from(y, dy);
    got[bf16][0] = y.value().contiguous_copy();
    got[bf16][1] = x.grad().contiguous_copy();
    got[bf16][2] = w.grad().contiguous_copy();
    got[bf16][3] = b.grad().contiguous_copy();
  }
  for (int k = 0; k < 4; k++)
    EXPECT_EQ(0, std::memcmp(got[0][k].raw(), got[1][k].raw(), got[0][k].nbytes())) << k;
  // Only a bf16 tape with an f32 weight takes one.
  Tape fp32;
  EXPECT_THROW(linear(fp32.leaf(x16, false), fp32.leaf(wt, true)), Error);
}
