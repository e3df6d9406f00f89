// bf16 products: every kernel this CPU runs against the double reference of the bf16-rounded
// inputs, on the shapes and transposes training uses and on odd ones.
#include "kernels/gemm_bf16.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/rng.h"
#include "kernels/quant.h"

using namespace aero;

namespace {

std::vector<float> random_values(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(rng.uniform() * 2.0 - 1.0);
  return v;
}

std::vector<Bf16Kernel> supported_kernels() {
  std::vector<Bf16Kernel> ks;
  for (Bf16Kernel k : {Bf16Kernel::portable, Bf16Kernel::avx512, Bf16Kernel::amx})
    if (bf16_kernel_supported(k)) ks.push_back(k);
  return ks;
}

// |C - ref| within fp32 accumulation error: K roundings of sums bounded by Σ|a·b|.
void check_against_ref(Bf16Kernel k, bool ta, bool tb, int M, int N, int K, float beta,
                       bool with_bias, bool with_add, uint64_t seed) {
  const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
  std::vector<float> A = random_values(size_t(ta ? K : M) * lda, seed);
  std::vector<float> B = random_values(size_t(tb ? N : K) * ldb, seed + 1);
  std::vector<float> C0 = random_values(size_t(M) * ldc, seed + 2);
  std::vector<float> bias = random_values(size_t(N), seed + 3);
  std::vector<float> add = random_values(size_t(M) * (N + 1), seed + 4);
  if (beta == 0.0f)  // beta == 0 must never read C
    for (float& c : C0) c = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> C = C0, R = C0;
  const float* bi = with_bias ? bias.data() : nullptr;
  const float* ad = with_add ? add.data() : nullptr;
  gemm_bf16_with(k, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, C.data(), ldc, bi, ad,
                 N + 1);
  gemm_bf16_ref(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, R.data(), ldc, bi, ad, N + 1);
  // fp32 sums of K products of values in [-1, 1]: rounding errors grow about like K·2^-24·|sum|
  // (a product left out or counted twice would be off by ~0.1 to 1).
  const double tol = 1e-5 + 4e-7 * K;
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      const float c = C[size_t(i) * ldc + j], r = R[size_t(i) * ldc + j];
      ASSERT_NEAR(c, r, tol) << bf16_kernel_name(k) << " ta=" << ta << " tb=" << tb << " M=" << M
                             << " N=" << N << " K=" << K << " at (" << i << ", " << j << ")";
    }
    for (int j = N; j < ldc; j++)  // the row's padding is never written
      ASSERT_TRUE(std::memcmp(&C[size_t(i) * ldc + j], &C0[size_t(i) * ldc + j], 4) == 0);
  }
}

}  // namespace

TEST(gemm_bf16, every_kernel_matches_reference_on_odd_shapes) {
  const int sizes[][3] = {{1, 1, 1},    {3, 5, 7},     {17, 31, 33},  {32, 32, 32},
                          {33, 65, 64}, {70, 19, 100}, {5, 130, 257}, {64, 48, 1}};
  for (Bf16Kernel k : supported_kernels())
    for (const auto& s : sizes)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
          check_against_ref(k, ta, tb, s[0], s[1], s[2], (ta + tb) % 2 ? 1.0f : 0.0f, tb, ta,
                            uint64_t(s[0] * 1000 + s[1] * 10 + s[2]));
}

// Forward x·Wᵀ (+ bias + residual), backward dX = dY·W (accumulated) and dW += dYᵀ·X, at a
// size where B is packed in several column chunks and the threads split the blocks.
TEST(gemm_bf16, training_products_on_large_shapes) {
  const int N = 200, IN = 384, OUT = 1500;
  for (Bf16Kernel k : supported_kernels()) {
    check_against_ref(k, false, true, N, OUT, IN, 0.0f, true, true, 11);     // y = x·Wᵀ + b + r
    check_against_ref(k, false, false, N, IN, OUT, 1.0f, false, false, 12);  // dx += dy·W
    check_against_ref(k, true, false, OUT, IN, N, 1.0f, false, false, 13);   // dW += dyᵀ·x
  }
}

TEST(gemm_bf16, results_do_not_depend_on_the_thread_count) {
  const int M = 96, N = 160, K = 300;
  std::vector<float> A = random_values(size_t(M) * K, 1), B = random_values(size_t(N) * K, 2);
  for (Bf16Kernel k : supported_kernels()) {
    std::vector<float> c1(size_t(M) * N), c2(size_t(M) * N);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    gemm_bf16_with(k, false, true, M, N, K, A.data(), K, B.data(), K, 0.0f, c1.data(), N);
    omp_set_num_threads(2);
    gemm_bf16_with(k, false, true, M, N, K, A.data(), K, B.data(), K, 0.0f, c2.data(), N);
    omp_set_num_threads(threads);
    EXPECT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * 4)) << bf16_kernel_name(k);
  }
}

// Inputs that are bf16 already: every kernel's result is the fp32 product of exact values, so
// small integer matrices give exact answers.
TEST(gemm_bf16, exact_on_small_integers) {
  const int M = 40, N = 36, K = 70;
  std::vector<float> A(size_t(M) * K), B(size_t(K) * N);
  for (size_t i = 0; i < A.size(); i++) A[i] = float(int(i % 7) - 3);
  for (size_t i = 0; i < B.size(); i++) B[i] = float(int(i % 5) - 2);
  for (Bf16Kernel k : supported_kernels()) {
    std::vector<float> C(size_t(M) * N);
    gemm_bf16_with(k, false, false, M, N, K, A.data(), K, B.data(), N, 0.0f, C.data(), N);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double s = 0;
        for (int p = 0; p < K; p++) s += double(A[size_t(i) * K + p]) * B[size_t(p) * N + j];
        ASSERT_EQ(C[size_t(i) * N + j], float(s)) << bf16_kernel_name(k);
      }
  }
}

TEST(gemm_bf16, cap_never_picks_a_wider_kernel_than_the_cpu) {
  const Bf16Kernel best = bf16_kernel();
  EXPECT_TRUE(bf16_kernel_supported(best));
  set_bf16_kernel_cap(Bf16Kernel::portable);
  EXPECT_EQ(bf16_kernel(), Bf16Kernel::portable);
  set_bf16_kernel_cap(Bf16Kernel::avx512);
  EXPECT_EQ(bf16_kernel(),
            bf16_kernel_supported(Bf16Kernel::avx512) ? Bf16Kernel::avx512 : Bf16Kernel::portable);
  set_bf16_kernel_cap(Bf16Kernel::best);
  EXPECT_EQ(bf16_kernel(), best);
  EXPECT_EQ(bf16_hardware(), best != Bf16Kernel::portable);
}

TEST(gemm_bf16, rounding_to_nearest_even_matches_the_scalar_conversion) {
  std::vector<float> x = random_values(1000, 5);
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-0.0f);
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  x.push_back(1.0f + std::ldexp(1.0f, -8));  // a tie: stays at the even 1.0
  std::vector<uint16_t> out(x.size());
  round_to_bf16(x.data(), out.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); i++) EXPECT_EQ(out[i], f32_to_bf16(x[i])) << x[i];
  EXPECT_EQ(bf16_to_f32(out.back()), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(out[out.size() - 2])));
}

TEST(gemm_bf16, stochastic_rounding_is_unbiased_and_brackets_the_value) {
  const int n = 200000;
  const float v = 1.0f + 0.3f * std::ldexp(1.0f, -7);  // 30% of the way from 1 to the next bf16
  const float down = 1.0f, up = 1.0f + std::ldexp(1.0f, -7);
  std::vector<float> x(n, v), neg(n, -v);
  std::vector<uint16_t> out(n), out_neg(n), again(n);
  round_to_bf16_stochastic(x.data(), out.data(), n, 42);
  round_to_bf16_stochastic(neg.data(), out_neg.data(), n, 43);
  round_to_bf16_stochastic(x.data(), again.data(), n, 42);
  EXPECT_EQ(out, again);  // same seed, same bits
  double sum = 0, sum_neg = 0;
  for (int i = 0; i < n; i++) {
    const float r = bf16_to_f32(out[i]);
    ASSERT_TRUE(r == down || r == up) << r;
    sum += r;
    sum_neg += bf16_to_f32(out_neg[i]);
  }
  // Standard error of the mean: 2^-7 · sqrt(0.21 / n) ~ 8e-6.
  EXPECT_NEAR(sum / n, v, 5e-5);
  EXPECT_NEAR(sum_neg / n, -v, 5e-5);
  // Exact bf16 values and infinities never move.
  std::vector<float> exact = {1.0f, -2.5f, 0.0f, std::numeric_limits<float>::infinity()};
  std::vector<uint16_t> e(exact.size());
  round_to_bf16_stochastic(exact.data(), e.data(), int64_t(exact.size()), 7);
  for (size_t i = 0; i < exact.size(); i++) EXPECT_EQ(bf16_to_f32(e[i]), exact[i]);
  // The largest finite bf16 does not round up to infinity.
  const float big = std::numeric_limits<float>::max();
  uint16_t b;
  for (uint64_t s = 0; s < 50; s++) {
    round_to_bf16_stochastic(&big, &b, 1, s);
    ASSERT_TRUE(std::isfinite(bf16_to_f32(b)));
  }
}

// Inference weights stored as bf16 (qmatmul's bf16 format): the same products as from f32
// weights holding those bf16 values.
TEST(gemm_bf16, bf16_weights_match_reference) {
  for (Bf16Kernel k : supported_kernels())
    for (auto [M, N, K] : {std::tuple{1, 1, 1}, {33, 17, 70}, {64, 100, 768}, {5, 40, 31}}) {
      std::vector<float> A = random_values(size_t(M) * K, 1), W = random_values(size_t(N) * K, 2);
      std::vector<uint16_t> wb(W.size());
      round_to_bf16(W.data(), wb.data(), int64_t(W.size()));
      for (size_t i = 0; i < W.size(); i++) W[i] = bf16_to_f32(wb[i]);
      std::vector<float> C(size_t(M) * N, std::numeric_limits<float>::quiet_NaN()), R(C.size());
      gemm_bf16_wt(k, M, N, K, A.data(), K, wb.data(), K, C.data(), N);
      gemm_bf16_ref(false, true, M, N, K, A.data(), K, W.data(), K, 0.0f, R.data(), N);
      for (size_t i = 0; i < C.size(); i++)
        ASSERT_NEAR(C[i], R[i], 1e-5 + 4e-7 * K)
            << bf16_kernel_name(k) << " " << M << "x" << N << "x" << K << " at " << i;
    }
}

// A frozen weight stored in bf16 (gemm_bf16_w) gives gemm_bf16's bits on the weight's f32 values,
// in both orientations (a Linear's forward and its input gradient), with beta, bias and add.
TEST(gemm_bf16, stored_bf16_weights_equal_rounding_while_packing) {
  for (Bf16Kernel k : supported_kernels())
    for (bool trans_w : {true, false})
      for (auto [M, N, K] : {std::tuple{37, 45, 70}, std::tuple{64, 96, 128}, std::tuple{5, 3, 1}})
        for (float beta : {0.0f, 1.0f}) {
          const int ldw = (trans_w ? K : N) + 3, ldc = N + 1;
          const std::vector<float> A = random_values(size_t(M) * K, 11);
          std::vector<float> W = random_values(size_t(trans_w ? N : K) * ldw, 12);
          std::vector<uint16_t> W16(W.size());
          round_to_bf16(W.data(), W16.data(), int64_t(W.size()));
          const std::vector<float> bias = random_values(size_t(N), 13);
          const std::vector<float> add = random_values(size_t(M) * N, 14);
          std::vector<float> C = random_values(size_t(M) * ldc, 15), R = C;
          gemm_bf16_w(k, trans_w, M, N, K, A.data(), K, W16.data(), ldw, beta, C.data(), ldc,
                      bias.data(), add.data(), N);
          gemm_bf16_with(k, false, trans_w, M, N, K, A.data(), K, W.data(), ldw, beta, R.data(),
                         ldc, bias.data(), add.data(), N);
          ASSERT_EQ(0, std::memcmp(C.data(), R.data(), C.size() * sizeof(float)))
              << bf16_kernel_name(k) << " trans_w=" << trans_w << " M=" << M << " N=" << N
              << " K=" << K << " beta=" << beta;
        }
}

// An operand already stored in bf16 (gemm_bf16_mixed: a saved activation) gives gemm_bf16's bits
// on the f32 values it was rounded from, on every kernel: A in bf16 (a Linear's forward on a bf16
// input), B in bf16 transposed or not (its weight gradient reads the input as B), with beta,
// bias and add, and row strides past the width.
TEST(gemm_bf16, stored_bf16_operands_equal_rounding_while_packing) {
  for (Bf16Kernel k : supported_kernels())
    for (auto [M, N, K] : {std::tuple{37, 45, 70}, std::tuple{64, 96, 128}, std::tuple{5, 3, 1},
                           std::tuple{33, 17, 65}})
      for (int which = 0; which < 2; which++)  // 0: A16, 1: B16
        for (bool ta : {false, true})
          for (bool tb : {false, true})
            for (float beta : {0.0f, 1.0f}) {
              if (which == 0 && ta) continue;  // a bf16 A is never transposed
              const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 1;
              const std::vector<float> A = random_values(size_t(ta ? K : M) * lda, 21);
              const std::vector<float> B = random_values(size_t(tb ? N : K) * ldb, 22);
              std::vector<uint16_t> A16(A.size()), B16(B.size());
              round_to_bf16(A.data(), A16.data(), int64_t(A.size()));
              round_to_bf16(B.data(), B16.data(), int64_t(B.size()));
              const std::vector<float> bias = random_values(size_t(N), 23);
              const std::vector<float> add = random_values(size_t(M) * N, 24);
              std::vector<float> C = random_values(size_t(M) * ldc, 25), R = C;
              gemm_bf16_mixed(k, ta, tb, M, N, K, which == 0 ? nullptr : A.data(),
                              which == 0 ? A16.data() : nullptr, lda,
                              which == 1 ? nullptr : B.data(), which == 1 ? B16.data() : nullptr,
                              ldb, beta, C.data(), ldc, bias.data(), add.data(), N);
              gemm_bf16_with(k, ta, tb, M, N, K, A.data(), lda, B.data(), ldb, beta, R.data(), ldc,
                             bias.data(), add.data(), N);
              ASSERT_EQ(0, std::memcmp(C.data(), R.data(), C.size() * sizeof(float)))
                  << bf16_kernel_name(k) << (which == 0 ? " A16" : " B16") << " ta=" << ta
                  << " tb=" << tb << " M=" << M << " N=" << N << " K=" << K << " beta=" << beta;
            }
}
