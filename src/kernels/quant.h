// Weight matrices for inference in three formats, and the one product the engine needs:
// Y(n, rows) = X(n, cols) · Wᵀ, W stored row-major as (rows = outputs, cols = inputs).
//   f32   the trained weights, multiplied by sgemm
//   bf16  bfloat16 (round to nearest even), f32 accumulation; AVX-512 BF16 dot products
//         where the CPU has them
//   q8    int8 in blocks of kQ8Block consecutive inputs, one f32 scale per block
//         (w ≈ scale · q, scale = max|w| / 127); X is quantized the same way per row on the
//         fly and blocks are multiplied with integer dot products (AVX-512 VNNI / AVX-VNNI
//         where present, a portable path otherwise)
// Fast paths are chosen at run time from cpu_info() and tested against qmatmul_ref.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace aero {

enum class QFormat : uint8_t { f32, bf16, q8 };
constexpr int kQ8Block = 32;

struct QMatrix {
  QFormat format = QFormat::f32;
  int rows = 0, cols = 0;      // cols must be a multiple of kQ8Block for q8
  std::vector<float> f32;      // rows * cols (f32)
  std::vector<uint16_t> bf16;  // rows * cols (bf16 bit patterns)
  std::vector<int8_t> q;       // rows * cols (q8)
  std::vector<float> scale;    // rows * cols / kQ8Block (q8)

  size_t bytes() const;  // storage of the weights (what one full pass reads)
};

QMatrix quantize(const float* w, int rows, int cols, QFormat format);
// Back to f32 (rows * cols), for tests and perplexity checks.
std::vector<float> dequantize(const QMatrix& m);

// Y(n, rows) = X(n, cols) · Wᵀ (beta = 0: Y is overwritten).
void qmatmul(const QMatrix& w, const float* x, int n, float* y);
// Naive reference: same arithmetic contract (q8 quantizes X per block the same way), double
// accumulation.
void qmatmul_ref(const QMatrix& w, const float* x, int n, float* y);

// Which kernel qmatmul uses for `format` on this CPU ("avx512-vnni", "avx2", "portable", ...).
std::string qmatmul_kernel(QFormat format);

uint16_t f32_to_bf16(float v);  // round to nearest even; NaN stays NaN
float bf16_to_f32(uint16_t v);

}  // namespace aero
