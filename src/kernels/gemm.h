// The one place aero multiplies matrices. Everything else calls sgemm(); only gemm.cpp knows
// which BLAS is underneath (OpenBLAS loaded at run time with the right kernel for this CPU, or
// aero's builtin kernel when no BLAS is installed).
#pragma once
#include <string>

#include "core/cpu.h"

namespace aero {

// Row-major: C(M, N) = alpha * op(A) · op(B) + beta * C, op(X) = X or Xᵀ.
// A is (M, K) or, with trans_a, (K, M); B is (K, N) or, with trans_b, (N, K).
// beta == 0 never reads C, so C may hold garbage (NaN) on entry.
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

// Naive reference (double accumulation) that every fast path is tested against.
void sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Builtin portable kernel, used when no BLAS is found (and tested against the reference):
// packed panels and a register-blocked micro-kernel chosen for this CPU at run time.
void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                   int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Without packing: rows of A and of B are read where they are (only a transposed B, a last
// narrow column panel and a last partial row block are packed). For small products whose
// operands sit in cache, where packing costs as much as the multiply; single-threaded inside
// a parallel region. In the same pass, when given: bias (N) is added to every row of C and add
// (M, N), row stride ld_add, to C (a residual: C = A·Bᵀ + bias + add).
void sgemm_direct(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc,
                  const float* bias = nullptr, const float* add = nullptr, int ld_add = 0);
// Whether sgemm() sends this shape to sgemm_direct (never under AERO_GEMM=openblas or builtin).
bool sgemm_uses_direct(int M, int N, int K);

struct GemmInfo {
  std::string backend;    // "openblas", "builtin", or "cblas" (another BLAS via AERO_BLAS_LIB)
  std::string library;    // path of the loaded library
  std::string kernel;     // OpenBLAS core name, e.g. "SkylakeX"; builtin: "avx512 8x32"
  std::string config;     // OpenBLAS build config string
  std::string threading;  // "openmp" (shares aero's threads), "pthread", "serial" or "unknown"
  std::string note;       // how the backend and kernel were chosen
  std::string warning;    // set when this setup is likely slow; empty otherwise
};

// Loads the backend on first use. AERO_GEMM=auto (default) uses OpenBLAS except for the shapes
// where the builtin kernel is faster on this CPU (sgemm()); AERO_GEMM=openblas uses OpenBLAS
// for every shape, AERO_GEMM=builtin never loads it. AERO_BLAS_LIB=/path/libopenblas.so.0 is
// tried before the system copies.
const GemmInfo& gemm_info();

// The OPENBLAS_CORETYPE that aero sets before loading OpenBLAS, and why.
struct CoretypeChoice {
  std::string name;  // value to set; empty leaves OpenBLAS to detect the CPU itself
  std::string note;  // one line for `aero doctor`
};

// forced: AERO_BLAS_CORETYPE, inherited: OPENBLAS_CORETYPE (either may be null or empty).
// A forced or inherited kernel is kept only if this CPU can run it; an inherited one is also
// replaced when it is narrower than what the CPU supports (Haswell on an AVX-512 machine).
CoretypeChoice choose_coretype(const CpuInfo& cpu, const char* inherited, const char* forced);

}  // namespace aero
