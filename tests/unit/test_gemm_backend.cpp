#include <omp.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "op_test.h"

using namespace aero;
using namespace aero::test;

namespace {

CpuInfo cpu_avx512() {
  CpuInfo c;
  c.avx = c.avx2 = c.fma = true;
  c.avx512f = c.avx512bw = c.avx512vl = c.avx512dq = true;
  return c;
}

CpuInfo cpu_avx2() {
  CpuInfo c;
  c.avx = c.avx2 = c.fma = true;
  return c;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(gemm_backend, coretype_from_cpuid_when_nothing_is_set) {
  EXPECT_EQ(choose_coretype(cpu_avx512(), nullptr, nullptr).name, "SkylakeX");
  EXPECT_EQ(choose_coretype(cpu_avx2(), "", "").name, "Haswell");
  CoretypeChoice c = choose_coretype(CpuInfo{}, nullptr, nullptr);
  EXPECT_EQ(c.name, "");  // baseline CPU: OpenBLAS detects it itself
  EXPECT_TRUE(contains(c.note, "picks its own"));
  // AVX-512F alone (Knights Landing) lacks what the SkylakeX kernels use.
  CpuInfo knl = cpu_avx2();
  knl.avx512f = true;
  EXPECT_EQ(choose_coretype(knl, nullptr, nullptr).name, "Haswell");
}

TEST(gemm_backend, narrower_inherited_coretype_is_replaced) {
  CoretypeChoice c = choose_coretype(cpu_avx512(), "Haswell", nullptr);
  EXPECT_EQ(c.name, "SkylakeX");
  EXPECT_TRUE(contains(c.note, "replaced by SkylakeX")) << c.note;
  EXPECT_EQ(choose_coretype(cpu_avx512(), "Zen", nullptr).name, "SkylakeX");
}

TEST(gemm_backend, inherited_coretype_kept_when_it_fits) {
  EXPECT_EQ(choose_coretype(cpu_avx512(), "skylakex", nullptr).name, "skylakex");
  EXPECT_EQ(choose_coretype(cpu_avx2(), "Zen", nullptr).name, "Zen");
  // Names aero does not know are left to OpenBLAS.
  CoretypeChoice c = choose_coretype(cpu_avx2(), "NewCore", nullptr);
  EXPECT_EQ(c.name, "NewCore");
  EXPECT_TRUE(contains(c.note, "from the environment"));
}

TEST(gemm_backend, coretype_the_cpu_cannot_run_is_never_used) {
  CoretypeChoice c = choose_coretype(cpu_avx2(), "SkylakeX", nullptr);
  EXPECT_EQ(c.name, "Haswell");
  EXPECT_TRUE(contains(c.note, "cannot run SkylakeX")) << c.note;
  CpuInfo skx = cpu_avx512();
  EXPECT_EQ(choose_coretype(skx, "Cooperlake", nullptr).name, "SkylakeX");
  skx.avx512_bf16 = true;
  EXPECT_EQ(choose_coretype(skx, "Cooperlake", nullptr).name, "Cooperlake");
  c = choose_coretype(CpuInfo{}, "Haswell", nullptr);
  EXPECT_EQ(c.name, "");
  EXPECT_TRUE(contains(c.note, "removed")) << c.note;
}

TEST(gemm_backend, forced_coretype_wins_if_the_cpu_runs_it) {
  CoretypeChoice c = choose_coretype(cpu_avx512(), "SkylakeX", "Haswell");
  EXPECT_EQ(c.name, "Haswell");
  EXPECT_TRUE(contains(c.note, "AERO_BLAS_CORETYPE"));
  c = choose_coretype(cpu_avx2(), nullptr, "SkylakeX");
  EXPECT_EQ(c.name, "Haswell");
  EXPECT_TRUE(contains(c.note, "ignored")) << c.note;
}

TEST(gemm_backend, info_names_a_backend_and_kernel) {
  const GemmInfo& g = gemm_info();
  EXPECT_TRUE(g.backend == "openblas" || g.backend == "builtin" || g.backend == "cblas")
      << g.backend;
  EXPECT_FALSE(g.note.empty());
  if (g.backend == "builtin") {
    EXPECT_FALSE(g.warning.empty());
  }
}

TEST(gemm_backend, set_num_threads_reaches_openmp) {
  const int before = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  EXPECT_EQ(omp_get_max_threads(), 1);
  set_num_threads(0);  // clamped
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(before);
  EXPECT_EQ(omp_get_max_threads(), before);
}

// Shapes that cross the builtin kernel's K blocks (256, or 1024 for few tiles), its N panels and
// blocks, and its edges, with A packed or read in place.
TEST(gemm_backend, builtin_matches_reference_across_blocks) {
  struct Case {
    bool ta, tb;
    int M, N, K;
  };
  for (Case c : {Case{false, false, 37, 70, 600}, Case{false, true, 37, 50, 600},
                 Case{true, false, 200, 33, 513}, Case{true, false, 45, 64, 300},
                 Case{false, true, 9, 4130, 17}, Case{true, true, 130, 97, 300}}) {
    const int lda = (c.ta ? c.M : c.K) + 1, ldb = (c.tb ? c.K : c.N) + 2, ldc = c.N + 3;
    Tensor A = random_tensor({c.ta ? c.K : c.M, lda}, 1),
           B = random_tensor({c.tb ? c.N : c.K, ldb}, 2);
    Tensor C1 = random_tensor({c.M, ldc}, 3), C2 = C1.contiguous_copy();
    sgemm_builtin(c.ta, c.tb, c.M, c.N, c.K, 1.5f, A.f32(), lda, B.f32(), ldb, -0.5f, C1.f32(),
                  ldc);
    sgemm_ref(c.ta, c.tb, c.M, c.N, c.K, 1.5f, A.f32(), lda, B.f32(), ldb, -0.5f, C2.f32(), ldc);
    EXPECT_LT(max_rel_diff(C1, C2), 1e-5) << c.ta << c.tb << " " << c.M << "x" << c.N << "x" << c.K;
  }
}

TEST(gemm_backend, beta_zero_ignores_nan_in_c) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (auto fn : {&sgemm, &sgemm_builtin}) {
    std::vector<float> A(6 * 5, 1.0f), B(5 * 7, 2.0f), C(6 * 7, nan);
    fn(false, false, 6, 7, 5, 1.0f, A.data(), 5, B.data(), 7, 0.0f, C.data(), 7);
    for (float v : C) EXPECT_EQ(v, 10.0f);
    std::fill(C.begin(), C.end(), nan);
    fn(false, false, 6, 7, 0, 1.0f, A.data(), 5, B.data(), 7, 0.0f, C.data(), 7);  // K = 0
    for (float v : C) EXPECT_EQ(v, 0.0f);
  }
}

// In AERO_GEMM=auto, small K with a large C takes the builtin path inside sgemm() on AMD CPUs.
TEST(gemm_backend, small_k_large_c_matches_reference) {
  const int M = 2048, N = 1030, K = 3;
  Tensor A = random_tensor({M, K}, 1), B = random_tensor({N, K}, 2);
  Tensor C1 = random_tensor({M, N}, 3), C2 = C1.contiguous_copy();
  sgemm(false, true, M, N, K, 1.0f, A.f32(), K, B.f32(), K, 0.5f, C1.f32(), N);
  sgemm_ref(false, true, M, N, K, 1.0f, A.f32(), K, B.f32(), K, 0.5f, C2.f32(), N);
  EXPECT_LT(max_rel_diff(C1, C2), 1e-5);
}

// Narrow weight gradients (Aᵀ·B, N <= 64, long K) take the builtin kernel under AERO_GEMM=auto.
TEST(gemm_backend, narrow_weight_gradient_matches_reference) {
  for (auto [M, N, K] : {std::tuple{1000, 64, 2048}, {192, 37, 1500}}) {
    Tensor A = random_tensor({K, M}, 1), B = random_tensor({K, N}, 2);
    Tensor C1 = random_tensor({M, N}, 3), C2 = C1.contiguous_copy();
    sgemm(true, false, M, N, K, 1.0f, A.f32(), M, B.f32(), N, 1.0f, C1.f32(), N);
    sgemm_ref(true, false, M, N, K, 1.0f, A.f32(), M, B.f32(), N, 1.0f, C2.f32(), N);
    EXPECT_LT(max_rel_diff(C1, C2), 1e-5) << M << "x" << N << "x" << K;
  }
}
