// The one place aero multiplies matrices. Everything else calls sgemm(); only gemm.cpp knows
// which BLAS is underneath (OpenBLAS loaded at run time with the right kernel for this CPU, or
// aero's builtin kernel when no BLAS is installed).
#pragma once
#include <string>

namespace aero {

// Row-major: C(M, N) = alpha * op(A) · op(B) + beta * C, op(X) = X or Xᵀ.
// A is (M, K) or, with trans_a, (K, M); B is (K, N) or, with trans_b, (N, K).
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

// Naive reference (double accumulation) that every fast path is tested against.
void sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Builtin portable kernel, used when no BLAS is found (and tested against the reference).
void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                   int lda, const float* B, int ldb, float beta, float* C, int ldc);

struct GemmInfo {
  std::string backend;  // "openblas" or "builtin"
  std::string library;  // path of the loaded library
  std::string kernel;   // OpenBLAS core name, e.g. "SkylakeX"
  std::string config;   // OpenBLAS build config string
  std::string threading;  // "openmp" (shares aero's threads) or "pthread"
  std::string note;     // how the kernel was chosen
};

// Loads the backend on first use. AERO_GEMM=builtin forces the builtin kernel.
const GemmInfo& gemm_info();
void gemm_set_threads(int n);

}  // namespace aero
