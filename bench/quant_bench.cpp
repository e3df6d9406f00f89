// quant_bench: qmatmul in each weight format against aero::sgemm on f32 weights, in the same run.
//
//   quant_bench [--n 1,8,64,512] [--shapes 768x768,3072x768,...] [--repeat R] [--warm]
//               [--cpu-time]
//
// For each W (rows x cols) and token count n: the best of R batches (taken in turns), GB/s of
// weights read (W.bytes() / time), GOP/s (2·rows·cols·n / time) and the speed-up over sgemm. For n
// <= 8 the weights rotate over copies that together exceed the last-level cache, as in decoding a
// model whose layers do not fit in it (--warm: one copy, the weights stay in cache when they fit).
// The read bandwidth of the machine (kernels/peak.h) is printed first for comparison.
// --cpu-time times by CPU time / threads, an estimate for idle cores when others share them
// (as bench/bandwidth --cpu-time).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/peak.h"
#include "kernels/quant.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> parse_ints(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    while (*p && *p != ',') p++;
    if (*p) p++;
  }
  return v;
}

bool g_cpu_time = false;

// Wall clock, or with --cpu-time the process's CPU time divided by the thread count.
double now_seconds() {
  if (!g_cpu_time) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (ts.tv_sec + 1e-9 * ts.tv_nsec) / aero::num_threads();
}

// Seconds per call of fn(i) over one batch of at least 0.05 s and `rotate` calls.
template <typename F>
double batch_seconds(int rotate, F&& fn) {
  int calls = 0;
  const double t0 = now_seconds();
  double dt = 0;
  do {
    fn(calls % rotate);
    calls++;
    dt = now_seconds() - t0;
  } while (dt < 0.05 || calls < rotate);
  return dt / calls;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ns = {1, 8, 64, 512};
  std::vector<std::pair<int, int>> shapes = {{768, 768}, {3072, 768}, {768, 3072}, {50257, 768}};
  int repeat = 5;
  bool warm = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) {
      ns = parse_ints(argv[++i]);
    } else if (!std::strcmp(argv[i], "--shapes") && i + 1 < argc) {
      shapes.clear();
      for (const char* p = argv[++i]; *p;) {
        int r = std::atoi(p);
        while (*p && *p != 'x') p++;
        if (*p) p++;
        shapes.push_back({r, std::atoi(p)});
        while (*p && *p != ',') p++;
        if (*p) p++;
      }
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--warm")) {
      warm = true;
    } else if (!std::strcmp(argv[i], "--cpu-time")) {
      g_cpu_time = true;
    } else {
      std::fprintf(stderr,
                   "usage: quant_bench [--n 1,8,64,512] [--shapes 768x768,...] [--repeat R] "
                   "[--warm] [--cpu-time]\n");
      return 2;
    }
  }
  if (g_cpu_time) {
    aero::reexec_with_env(argv, "OMP_WAIT_POLICY", "passive");
  } else {
    aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  }
  if (g_cpu_time) {
    aero::set_probe_clock(aero::ProbeClock::cpu);
  }
  const int nt = aero::num_threads();
  double bw = 0;
  for (int r = 0; r < 3; r++)
    bw = std::max(bw, aero::measure_bandwidth(nt, size_t(256) << 20).read_gbs);
  std::printf("threads %d, read bandwidth %.1f GB/s (best of 3), sgemm %s %s\n", nt, bw,
              aero::gemm_info().backend.c_str(), aero::gemm_info().kernel.c_str());
  for (aero::QFormat f : {aero::QFormat::f32, aero::QFormat::bf16, aero::QFormat::q8})
    std::printf("  %s\n", aero::qmatmul_kernel(f).c_str());
  std::printf("%-12s %4s %-5s %10s %8s %6s %8s %8s\n", "W (rows x cols)", "n", "fmt", "us/call",
              "GB/s", "%bw", "GOP/s", "x sgemm");

  const aero::QFormat formats[] = {aero::QFormat::f32, aero::QFormat::bf16, aero::QFormat::q8};
  const char* names[] = {"f32", "bf16", "q8"};
  for (auto [rows, cols] : shapes) {
    std::mt19937 gen(1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> w(static_cast<size_t>(rows) * cols);
    for (float& v : w) v = dist(gen);
    for (int n : ns) {
      std::vector<float> x(static_cast<size_t>(n) * cols);
      for (float& v : x) v = dist(gen) * 50;
      std::vector<float> y(static_cast<size_t>(n) * rows);
      const double ops = 2.0 * rows * cols * n;
      // sgemm and the three formats take turns, so that a burst of load on the shared cores
      // hits them alike; each keeps its best batch.
      std::vector<aero::QMatrix> one;
      std::vector<std::vector<aero::QMatrix>> ws(4);
      double best[4] = {1e30, 1e30, 1e30, 1e30};
      for (int v = 0; v < 4; v++) {
        one.push_back(
            aero::quantize(w.data(), rows, cols, v == 0 ? aero::QFormat::f32 : formats[v - 1]));
        int copies = 1;
        if (!warm && n <= 8)
          copies = static_cast<int>(std::min<size_t>(64, (256u << 20) / one[v].bytes() + 1));
        ws[v].assign(static_cast<size_t>(copies), one[v]);
      }
      for (int r = 0; r <= repeat; r++)  // round 0 warms up
        for (int v = 0; v < 4; v++) {
          const int rotate = static_cast<int>(ws[v].size());
          double t;
          if (v == 0)
            t = batch_seconds(rotate, [&](int i) {
              aero::sgemm(false, true, n, rows, cols, 1.0f, x.data(), cols, ws[0][i].f32.data(),
                          cols, 0.0f, y.data(), rows);
            });
          else
            t = batch_seconds(rotate,
                              [&](int i) { aero::qmatmul(ws[v][i], x.data(), n, y.data()); });
          if (r > 0) best[v] = std::min(best[v], t);
        }
      for (int v = 0; v < 4; v++) {
        const double t = best[v], gbs = one[v].bytes() / t / 1e9;
        std::printf("%5dx%-6d %4d %-5s %10.1f %8.1f %5.0f%% %8.1f %8.2f\n", rows, cols, n,
                    v == 0 ? "sgemm" : names[v - 1], t * 1e6, gbs, 100 * gbs / bw, ops / t / 1e9,
                    best[0] / t);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
