// Matrix products with bf16 inputs and fp32 accumulation: the mixed-precision training path
// (train.precision = bf16). Operands arrive in fp32 and are rounded to bf16 (nearest even) as
// they are packed, so the product equals one taken from bf16 copies of A and B; C stays fp32.
//
// Three kernels, chosen at run time from cpuid (never by trying an instruction):
//   amx          Sapphire Rapids tiles (_tile_dpbf16ps), after the Linux kernel granted them
//   avx512-bf16  vdpbf16ps (Zen 4/5, Cooper Lake, Sapphire Rapids without AMX permission)
//   portable     bf16 widened to f32 and multiplied with FMA (any CPU; slower than sgemm)
// AERO_BF16_KERNEL=portable|avx512|amx caps the choice (the widest allowed one at or below it).
#pragma once
#include <cstdint>

namespace aero {

enum class Bf16Kernel : uint8_t { portable, avx512, amx, best };

// "portable", "avx512-bf16", "amx", "best".
const char* bf16_kernel_name(Bf16Kernel k);
// Whether this CPU (and for AMX the Linux kernel's permission) runs k; asks for AMX once.
bool bf16_kernel_supported(Bf16Kernel k);
// The kernel gemm_bf16 uses: the widest supported at or below the cap (AERO_BF16_KERNEL or
// set_bf16_kernel_cap).
Bf16Kernel bf16_kernel();
void set_bf16_kernel_cap(Bf16Kernel cap);
// Whether the CPU has bf16 dot-product units (AVX512-BF16 or AMX-BF16): bf16 training is only
// faster than fp32 with them.
bool bf16_hardware();

// Row-major: C(M, N) = op(A) · op(B) + beta · C (+ bias (N) on every row, + add (M, N) with row
// stride ld_add), op(X) = X or Xᵀ exactly as sgemm (A is (M, K) or with trans_a (K, M); B is
// (K, N) or with trans_b (N, K)). A and B are rounded to bf16; sums are fp32. beta is 0 or 1;
// beta == 0 never reads C. Threaded over the OpenMP pool outside parallel regions; every
// element of C is summed in the same order whatever the thread count (deterministic).
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc, const float* bias = nullptr,
               const float* add = nullptr, int ld_add = 0);
// The same with a given kernel (tests and `aero doctor`); k must be supported.
void gemm_bf16_with(Bf16Kernel k, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc,
                    const float* bias = nullptr, const float* add = nullptr, int ld_add = 0);
// Inference weights already in bf16: C(M, N) = A · Wᵀ with W (N, K) bf16 bit patterns (row
// stride ldw), A rounded to bf16 as above (the contract of qmatmul's bf16 format).
void gemm_bf16_wt(Bf16Kernel k, int M, int N, int K, const float* A, int lda, const uint16_t* W,
                  int ldw, float* C, int ldc);
// The same with W already bf16 (a frozen weight stored so): C(M, N) = A · op(W) (+ beta C + bias
// + add), A rounded to bf16 as above. trans_w: W (N, K) and C = A · Wᵀ (a Linear's forward);
// otherwise W (K, N) and C = A · W (its input gradient). The sums equal gemm_bf16's on the f32
// values of W, bit for bit.
void gemm_bf16_w(Bf16Kernel k, bool trans_w, int M, int N, int K, const float* A, int lda,
                 const uint16_t* W, int ldw, float beta, float* C, int ldc,
                 const float* bias = nullptr, const float* add = nullptr, int ld_add = 0);
// Either operand already bf16 (a saved activation stored so): exactly one of A / A16 and one of
// B / B16 is non-null, as gemm_bf16 otherwise (A16 must not be transposed). A bf16 operand is
// packed as is, so the sums equal gemm_bf16's on its f32 values, bit for bit.
void gemm_bf16_mixed(Bf16Kernel k, bool trans_a, bool trans_b, int M, int N, int K, const float* A,
                     const uint16_t* A16, int lda, const float* B, const uint16_t* B16, int ldb,
                     float beta, float* C, int ldc, const float* bias = nullptr,
                     const float* add = nullptr, int ld_add = 0);
// Naive reference: the products of the bf16-rounded inputs summed in double.
void gemm_bf16_ref(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc,
                   const float* bias = nullptr, const float* add = nullptr, int ld_add = 0);

// f32 -> bf16 with round to nearest even (NaN stays NaN), n values.
void round_to_bf16(const float* x, uint16_t* out, int64_t n);
// bf16 -> f32 (exact), n values.
void bf16_to_f32(const uint16_t* x, float* out, int64_t n);
// Stochastic rounding: x rounds up with probability (x - down) / (up - down), so the rounded
// value is x on average. The random bits are a hash of (seed, index): the same inputs give the
// same bits whatever the thread count.
void round_to_bf16_stochastic(const float* x, uint16_t* out, int64_t n, uint64_t seed);

}  // namespace aero
