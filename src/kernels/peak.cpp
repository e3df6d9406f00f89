#include "kernels/peak.h"

#include <immintrin.h>
#include <omp.h>

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/cpu.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace aero {
namespace {

ProbeClock g_clock = ProbeClock::wall;

// Wall time, or in ProbeClock::cpu the largest CPU time any thread of the team spent: what the
// wall time would have been had no thread been preempted.
class Stopwatch {
 public:
  explicit Stopwatch(int threads) {
    if (g_clock == ProbeClock::wall) return;
    clocks_.resize(threads);
    start_.resize(threads);
    // libgomp keeps the same pool threads for teams of this size (OpenBLAS's OpenMP build too).
#pragma omp parallel num_threads(threads)
    pthread_getcpuclockid(pthread_self(), &clocks_[omp_get_thread_num()]);
  }
  void start() {
    wall_ = omp_get_wtime();
    for (size_t i = 0; i < clocks_.size(); i++) start_[i] = cpu_seconds(clocks_[i]);
  }
  double seconds() const {
    if (clocks_.empty()) return omp_get_wtime() - wall_;
    double most = 0;
    for (size_t i = 0; i < clocks_.size(); i++)
      most = std::max(most, cpu_seconds(clocks_[i]) - start_[i]);
    return most;
  }

 private:
  static double cpu_seconds(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
  std::vector<clockid_t> clocks_;
  std::vector<double> start_;
  double wall_ = 0;
};

// The chains' lanes summed (the result only keeps the loops from being optimised away). Stored
// and added: GCC 12's _mm512_reduce_add_ps warns inside its own header.
__attribute__((target("avx512f"))) float sum_chains(__m512 (&acc)[16]) {
  float out[16], s = 0;
  for (int i = 1; i < 16; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  _mm512_storeu_ps(out, acc[0]);
  for (float v : out) s += v;
  return s;
}

// Each FMA chain waits on its own previous result (4-cycle latency on current cores), so
// two pipes need at least 8 chains in flight; 16 (AVX-512) or 12 (AVX2, 16 registers) leave
// headroom. x < 1 and y small keep the values finite.
__attribute__((target("avx512f"))) float fma_chains_avx512(long iters) {
  constexpr int kChains = 16;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  return sum_chains(acc);
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(long iters) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  float out[8], s = 0;
  for (int i = 1; i < kChains; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  _mm256_storeu_ps(out, acc[0]);
  for (float v : out) s += v;
  return s;
}

// Baseline x86-64: separate multiply and add (2 FLOPs per lane all the same).
float fma_chains_sse(long iters) {
  constexpr int kChains = 8;
  __m128 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm_set1_ps(0.001f * i);
  const __m128 x = _mm_set1_ps(0.999999f), y = _mm_set1_ps(1e-6f);
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 8
    for (int i = 0; i < kChains; i++) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], x), y);
  }
  float out[4], s = 0;
  for (int i = 1; i < kChains; i++) acc[0] = _mm_add_ps(acc[0], acc[i]);
  _mm_storeu_ps(out, acc[0]);
  for (float v : out) s += v;
  return s;
}

// vdpbf16ps chains: each instruction adds two bf16 products per lane (32 multiply-adds). On
// Sapphire Rapids it issues at a quarter of the FMA's rate, so bf16 tops out at half the fp32
// FLOPs there; Zen 4 and 5 issue it like an FMA.
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_chains(long iters) {
  constexpr int kChains = 16;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3a833a83);  // (1e-3, 1e-3) in bf16
  for (long it = 0; it < iters; it++) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, x);
  }
  return sum_chains(acc);
}

struct FmaLoop {
  float (*fn)(long);
  double flops_per_iter;
  const char* isa;
};

FmaLoop fma_loop() {
  const CpuInfo& c = cpu_info();
  if (c.avx512f) return {fma_chains_avx512, 16 * 16 * 2.0, "avx512"};
  if (c.avx2 && c.fma) return {fma_chains_avx2, 12 * 8 * 2.0, "avx2"};
  return {fma_chains_sse, 8 * 4 * 2.0, "sse"};
}

volatile float g_sink;  // keeps the probe loops from being optimised away

// Seconds for every thread of a team of `threads` to run fn(iters) once (after a barrier).
double time_team(const FmaLoop& loop, long iters, int threads) {
  Stopwatch sw(threads);
  double dt = 0;
#pragma omp parallel num_threads(threads)
  {
#pragma omp barrier
#pragma omp master
    sw.start();
    float r = loop.fn(iters);
#pragma omp barrier
#pragma omp master
    dt = sw.seconds();
    if (r == 12345.0f) g_sink = r;
  }
  return dt;
}

using v8 = float __attribute__((vector_size(32)));

// Sum of p[0, n), n a multiple of 32: four independent vector sums, so that the adds' latency
// never limits the stream.
float sum_stream(const float* p, size_t n) {
  v8 s0 = {}, s1 = {}, s2 = {}, s3 = {};
  for (size_t i = 0; i < n; i += 32) {
    v8 x0, x1, x2, x3;
    std::memcpy(&x0, p + i, sizeof(v8));
    std::memcpy(&x1, p + i + 8, sizeof(v8));
    std::memcpy(&x2, p + i + 16, sizeof(v8));
    std::memcpy(&x3, p + i + 24, sizeof(v8));
    s0 += x0;
    s1 += x1;
    s2 += x2;
    s3 += x3;
  }
  v8 s = (s0 + s1) + (s2 + s3);
  float total = 0;
  for (int i = 0; i < 8; i++) total += s[i];
  return total;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

}  // namespace

void set_probe_clock(ProbeClock clock) { g_clock = clock; }

namespace {

FmaPeak measure_loop(const FmaLoop& loop, int threads, double seconds) {
  threads = std::max(1, threads);
  // Calibrated on one thread (a team's first region may wait for a busy CPU), to repeats of
  // about 10 ms over `seconds`, keeping the best: on shared cores some repeat usually runs with
  // every thread on a CPU of its own.
  long iters = 20000;
  double t = 1e30;
  for (int i = 0; i < 3; i++) t = std::min(t, time_team(loop, iters, 1));
  if (t > 0) iters = std::max(iters, static_cast<long>(iters * 0.01 / t));
  double best = 0, start = omp_get_wtime();
  for (int rep = 0; rep < 5 || omp_get_wtime() - start < seconds; rep++) {
    double dt = time_team(loop, iters, threads);
    if (dt > 0) best = std::max(best, loop.flops_per_iter * iters * threads / dt * 1e-9);
  }
  return {best, threads, loop.isa};
}

}  // namespace

FmaPeak measure_fma_peak(int threads, double seconds) {
  return measure_loop(fma_loop(), threads, seconds);
}

FmaPeak measure_bf16_dot_peak(int threads, double seconds) {
  const CpuInfo& c = cpu_info();
  if (!c.avx512f || !c.avx512_bf16) return {0, std::max(1, threads), "none"};
  return measure_loop({dpbf16_chains, 16 * 32 * 2.0, "avx512-bf16"}, threads, seconds);
}

Bandwidth measure_bandwidth(int threads, size_t bytes) {
  threads = std::max(1, threads);
  Bandwidth bw;
  bw.threads = threads;
  const size_t n = bytes / sizeof(float) / 32 * 32;  // whole 32-float chunks for the sum
  std::unique_ptr<float, FreeDeleter> buf(
      static_cast<float*>(std::aligned_alloc(64, n * sizeof(float))));
  if (!buf || n == 0) return bw;
  bw.bytes = n * sizeof(float);
  float* p = buf.get();
  // First touch by the threads that will stream it, in the same static split.
#pragma omp parallel for schedule(static) num_threads(threads)
  for (size_t i = 0; i < n; i++) p[i] = 1.0f;

  auto best_of = [&](auto body, double bytes_moved) {
    double best = 0;
    body();  // wakes the team and the pages
    Stopwatch sw(threads);
    for (int rep = 0; rep < 5; rep++) {
      sw.start();
      body();
      double dt = sw.seconds();
      if (dt > 0) best = std::max(best, bytes_moved / dt * 1e-9);
    }
    return best;
  };

  bw.read_gbs = best_of(
      [&] {
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
          const int nt = omp_get_num_threads(), t = omp_get_thread_num();
          const size_t chunks = n / 32;  // same split as the static first touch, in 32s
          const size_t c0 = chunks * t / nt, c1 = chunks * (t + 1) / nt;
          total += sum_stream(p + c0 * 32, (c1 - c0) * 32);
        }
        g_sink = total;
      },
      double(n) * sizeof(float));

  const size_t half = n / 2;
  bw.copy_gbs = best_of(
      [&] {
        float* dst = p;
        const float* src = p + half;
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (size_t i = 0; i < half; i++) dst[i] = src[i];
      },
      2.0 * half * sizeof(float));

  const size_t third = n / 3;
  bw.triad_gbs = best_of(
      [&] {
        float* a = p;
        const float* b = p + third;
        const float* c = p + 2 * third;
        const float s = 0.5f;
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (size_t i = 0; i < third; i++) a[i] = b[i] + s * c[i];
      },
      3.0 * third * sizeof(float));
  return bw;
}

GemmRate measure_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float beta, double seconds,
                       bool builtin, bool bf16) {
  GemmRate r;
  if (M <= 0 || N <= 0 || K <= 0) return r;
  const int rows_a = trans_a ? K : M, cols_a = trans_a ? M : K;
  const int rows_b = trans_b ? N : K, cols_b = trans_b ? K : N;
  std::vector<float> A(size_t(rows_a) * cols_a), B(size_t(rows_b) * cols_b), C(size_t(M) * N);
  for (size_t i = 0; i < A.size(); i++) A[i] = float(i % 13) * 0.01f - 0.06f;
  for (size_t i = 0; i < B.size(); i++) B[i] = float(i % 7) * 0.01f - 0.03f;
  std::fill(C.begin(), C.end(), 0.0f);
  const double flops = 2.0 * M * N * K;
  auto fn = builtin ? &sgemm_builtin : &sgemm;
  auto call = [&] {
    if (bf16)
      return gemm_bf16(trans_a, trans_b, M, N, K, A.data(), cols_a, B.data(), cols_b, beta,
                       C.data(), N);
    fn(trans_a, trans_b, M, N, K, 1.0f, A.data(), cols_a, B.data(), cols_b, beta, C.data(), N);
  };
  call();  // loads the backend, warms caches and the thread team
  Stopwatch sw(omp_get_max_threads());
  sw.start();
  call();
  double once = std::max(sw.seconds(), 1e-7);
  // Batches of about 2 ms: long enough for the timer, short enough that on shared cores some
  // batch runs with no thread preempted.
  const int per_batch = std::max(1, static_cast<int>(0.002 / once));
  std::vector<double> rates;
  double start = omp_get_wtime();
  do {
    sw.start();
    for (int i = 0; i < per_batch; i++) call();
    double dt = std::max(sw.seconds(), 1e-9);
    rates.push_back(flops * per_batch / dt * 1e-9);
    r.calls += per_batch;
  } while (omp_get_wtime() - start < seconds || rates.size() < 3);
  std::sort(rates.begin(), rates.end());
  r.best_gflops = rates.back();
  r.median_gflops = rates[rates.size() / 2];
  return r;
}

}  // namespace aero
