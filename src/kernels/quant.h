// Weight matrices for inference in three formats, and the one product the engine needs:
// Y(n, rows) = X(n, cols) · Wᵀ, W stored row-major as (rows = outputs, cols = inputs).
//   f32   the trained weights, multiplied by sgemm
//         (n <= kGemvRows: aero's own gemv over W, faster than OpenBLAS there)
//   bf16  bfloat16 (round to nearest even), f32 accumulation. X is rounded to bf16 the same way
//         once per call, so every product is exact in f32 and paths differ only in summation
//         order: AVX-512 BF16 vdpbf16ps (2.2x the widen + FMA rate; it flushes subnormal
//         inputs to zero), else W widened to f32 and FMA (AVX-512, AVX2, portable)
//   q8    int8 in blocks of kQ8Block consecutive inputs, one f32 scale per block
//         (w ≈ scale · q, scale = max|w| / 127); X is quantized the same way per row and block
//         once per call; products of blocks are exact int32 dot products (AVX-512 VNNI,
//         AVX-VNNI or AVX2), scaled by scale_w · scale_x and summed in f32
// Storage: f32 / bf16 row-major (rows, cols). q8: scale (rows, cols / 32) row-major; q (rows,
// cols) holds q + 128 as uint8 (vpdpbusd multiplies unsigned by signed), each row packed for
// the kernels in groups of kQ8Group blocks: within a group of G blocks, byte 4·(G·v + l) + t
// is input 4·v + t of block l (v < 8, t < 4), so that one int32 lane of a vector accumulates
// one whole block. Only the kernels and dequantize() read q; use dequantize() for values.
// Fast paths are chosen at run time from cpu_info() and tested against qmatmul_ref.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace aero {

enum class QFormat : uint8_t { f32, bf16, q8 };
constexpr int kQ8Block = 32;
constexpr int kQ8Group = 16;  // blocks per packed group: one per int32 lane of 512 bits

struct QMatrix {
  QFormat format = QFormat::f32;
  int rows = 0, cols = 0;       // cols must be a multiple of kQ8Block for q8
  std::vector<float> f32;       // rows * cols (f32), empty in a view
  const float* view = nullptr;  // f32 read in place (f32_view): rows * cols owned elsewhere
  std::vector<uint16_t> bf16;   // rows * cols (bf16 bit patterns)
  std::vector<uint8_t> q;       // rows * cols (q8): q + 128, packed (see above)
  std::vector<float> scale;     // rows * cols / kQ8Block (q8)
  std::vector<float> f32t;      // cols * rows: Wᵀ of an f32 matrix, where kept (keep_transposed)

  size_t bytes() const;  // storage of the weights (what one full pass reads)
  const float* f32_data() const { return view ? view : f32.data(); }
};

QMatrix quantize(const float* w, int rows, int cols, QFormat format);
// Keeps a copy of an f32 matrix's Wᵀ, which qmatmul then reads in place for more than kGemvRows
// rows instead of transposing W into panels on every call: for models whose every step
// multiplies many rows (a diffusion model's blocks), 2-4x on their products at n_embd 128.
// The gemv path still reads W. Other formats are left as they are.
void keep_transposed(QMatrix& m);
// f32 weights used where they are (no copy): `w` (rows, cols) must outlive the matrix.
QMatrix f32_view(const float* w, int rows, int cols);
// Back to f32 (rows * cols), for tests and perplexity checks.
std::vector<float> dequantize(const QMatrix& m);

// Y(n, rows) = X(n, cols) · Wᵀ (beta = 0: Y is overwritten).
void qmatmul(const QMatrix& w, const float* x, int n, float* y);
// Rows [j0, j1) of that product (x and y still point at row 0), with the kernel qmatmul picks
// for n rows, so the same bits: for callers that share one product's rows among their threads.
// Inside a parallel region it runs on the calling thread.
void qmatmul_rows(const QMatrix& w, const float* x, int n, int j0, int j1, float* y);
// Whether qmatmul_rows computes rows apart from the others on aero's own kernels (not BLAS,
// which must not be entered from several threads at once) for a product of n rows.
bool qmatmul_splits_rows(const QMatrix& w, int n);
// Naive reference: same arithmetic contract (bf16 rounds X to bf16, q8 quantizes X per block
// the same way), double accumulation.
void qmatmul_ref(const QMatrix& w, const float* x, int n, float* y);

// Which kernel qmatmul uses for `format` on this CPU ("q8: avx512-vnni", "bf16: avx2", ...).
std::string qmatmul_kernel(QFormat format);

// Kernel families, narrowest first. `best` (default) is the widest this CPU runs; a forced one
// (tests, benches, or AERO_QKERNEL=portable|avx2|avx-vnni|avx512, read on first use) is lowered to
// the widest family at or below it that cpu_info() reports, so no missing instruction runs.
// Not for use while another thread is inside qmatmul.
enum class QKernel : uint8_t { portable, avx2, avx_vnni, avx512, amx, best };
void qmatmul_force_kernel(QKernel kernel);
constexpr int kGemvRows = 16;  // f32: n up to this uses aero's gemv instead of sgemm
// bf16: n from this (prefill) uses the AMX tile kernel (gemm_bf16_wt, the same contract) where
// the CPU has AMX and Linux grants it, unless AERO_QKERNEL forces a narrower family.
constexpr int kBf16TileRows = 32;
// q8: n from this uses AMX int8 tiles (AERO_QKERNEL=amx, the widest family) where the CPU has
// them and Linux grants them; below it, and where AMX is missing, avx512-vnni.
constexpr int kQ8AmxRows = 32;

uint16_t f32_to_bf16(float v);  // round to nearest even; NaN stays NaN
float bf16_to_f32(uint16_t v);

}  // namespace aero
