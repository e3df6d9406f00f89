// Hardware-limit probes: what this machine can do at best, so that a kernel's speed can be read
// as a fraction of it (aero doctor, bench/gemm_bench, bench/bandwidth). Each probe runs for a
// fraction of a second and reports the best of a few repeats, since the cores may be shared.
#pragma once
#include <cstddef>
#include <string>

namespace aero {

// Wall clock (default) or CPU time of the process divided by the thread count. The latter
// estimates the rate on idle cores when other work shares them; it is only meaningful with
// OMP_WAIT_POLICY=passive, so that threads waiting at a barrier sleep instead of spinning.
enum class ProbeClock { wall, cpu };
void set_probe_clock(ProbeClock clock);

struct FmaPeak {
  double gflops = 0;  // fp32, counting an FMA as 2 FLOPs
  int threads = 1;
  std::string isa;  // "avx512", "avx2" or "sse"
};

// Register-resident FMA chains (enough of them to fill every FMA pipe) on `threads` threads,
// widest vector that cpu_info() reports.
FmaPeak measure_fma_peak(int threads, double seconds = 0.15);
// The same with vdpbf16ps (fp32 sums of bf16 pairs, a multiply-add counted as 2 FLOPs): the
// limit of the avx512-bf16 kernel. gflops 0 and isa "none" where the CPU lacks AVX512-BF16.
FmaPeak measure_bf16_dot_peak(int threads, double seconds = 0.15);

struct Bandwidth {
  double read_gbs = 0;   // streaming sum
  double copy_gbs = 0;   // a = b, bytes read + bytes written (STREAM convention)
  double triad_gbs = 0;  // a = b + s * c, likewise
  size_t bytes = 0;      // buffer size
  int threads = 1;
};

// Streams over a buffer of `bytes` (much larger than the last-level cache).
Bandwidth measure_bandwidth(int threads, size_t bytes = size_t(512) << 20);

struct GemmRate {
  double best_gflops = 0;
  double median_gflops = 0;
  int calls = 0;
};

// aero::sgemm on C(M, N) = op(A) · op(B) + beta * C with the current backend and thread count
// (builtin: aero::sgemm_builtin whatever the backend; bf16: aero::gemm_bf16, the bf16 kernel
// chosen for this CPU, counting the same FLOPs).
GemmRate measure_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float beta = 0.0f,
                       double seconds = 0.2, bool builtin = false, bool bf16 = false);

}  // namespace aero
