// gemm_bench: aero::sgemm on every linear-layer shape of the training configs, as GFLOP/s and as
// a fraction of this machine's measured sgemm peak (best large square rate) and FMA peak.
//
//   gemm_bench [--config NAME] [--seconds S] [--bandwidth] [--builtin] [--cpu-time]
//
// --builtin also times aero's builtin kernel on each shape, next to the backend in use.
// --cpu-time times by the busiest thread's CPU time instead of the wall clock (and re-runs itself
// with OMP_WAIT_POLICY=passive so that waiting threads sleep): on cores shared with other work
// this estimates the rate on idle cores, where wall-clock rates mostly measure the other work.
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <omp.h>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/peak.h"

namespace {

struct Config {
  const char* name;
  int V, C, L, ffn, NH, B, T;  // vocab, channels, layers, FFN width, heads, batch, time
};

// Shapes as in configs/: tokens per step = B * T.
const Config kConfigs[] = {
    {"seed-tiny", 10000, 64, 3, 256, 4, 32, 128},
    {"char-small", 80, 128, 4, 512, 4, 12, 64},
    {"gpt2-124m", 50257, 768, 12, 3072, 12, 4, 256},
    {"seed-100m", 32000, 768, 12, 3072, 12, 8, 512},
};

struct Layer {
  const char* name;
  int in, out, count;  // count: how many such layers per step
};

struct Shape {
  bool ta, tb;
  int M, N, K;
  bool operator<(const Shape& o) const {
    return std::tie(ta, tb, M, N, K) < std::tie(o.ta, o.tb, o.M, o.N, o.K);
  }
};

struct Timed {
  double gflops = 0, builtin_gflops = 0;
};

double g_seconds = 0.15;
bool g_builtin = false;

const Timed& measure(const Shape& s) {
  static std::map<Shape, Timed> cache;
  auto it = cache.find(s);
  if (it != cache.end()) return it->second;
  Timed t;
  t.gflops = aero::measure_sgemm(s.ta, s.tb, s.M, s.N, s.K, 0.0f, g_seconds).best_gflops;
  if (g_builtin)
    t.builtin_gflops =
        aero::measure_sgemm(s.ta, s.tb, s.M, s.N, s.K, 0.0f, g_seconds, true).best_gflops;
  return cache[s] = t;
}

std::vector<Layer> layers_of(const Config& c) {
  return {{"qkv", c.C, 3 * c.C, c.L},
          {"attn_out", c.C, c.C, c.L},
          {"ffn_up", c.C, c.ffn, c.L},
          {"ffn_down", c.ffn, c.C, c.L},
          {"lm_head", c.C, c.V, 1}};
}

struct Pass {
  const char* pass;
  Shape s;
};

// y = x·Wᵀ, dx = dy·W, dW += dyᵀ·x (src/kernels/linear.cpp), on B * T tokens.
std::vector<Pass> passes_of(const Config& c, const Layer& l) {
  const int tokens = c.B * c.T;
  return {{"fwd", {false, true, tokens, l.out, l.in}},
          {"dx", {false, false, tokens, l.in, l.out}},
          {"dW", {true, false, l.out, l.in, tokens}}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  bool bandwidth = false, cpu_time = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--config") && i + 1 < argc) {
      only = argv[++i];
    } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
      g_seconds = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--bandwidth")) {
      bandwidth = true;
    } else if (!std::strcmp(argv[i], "--builtin")) {
      g_builtin = true;
    } else if (!std::strcmp(argv[i], "--cpu-time")) {
      cpu_time = true;
    } else {
      std::fprintf(stderr,
                   "usage: gemm_bench [--config NAME] [--seconds S] [--bandwidth] [--builtin] "
                   "[--cpu-time]\n");
      return 2;
    }
  }
  if (cpu_time) {
    aero::reexec_with_env(argv, "OMP_WAIT_POLICY", "passive");
    aero::set_probe_clock(aero::ProbeClock::cpu);
  }
  const int nt = aero::num_threads();
  const aero::GemmInfo& g = aero::gemm_info();
  std::printf("gemm: %s %s (%s), %d threads; best of batches over %.2f s per shape, %s\n",
              g.backend.c_str(), g.kernel.c_str(), g.threading.c_str(), nt, g_seconds,
              cpu_time ? "timed by the busiest thread's CPU time" : "wall clock");
  if (!g.warning.empty()) std::printf("warning: %s\n", g.warning.c_str());

  // Peaks are measured before and after the shapes and the higher kept: on shared cores a
  // single measurement may land in a busy moment.
  aero::FmaPeak fma1, fma;
  double sgemm_peak = 0, square[2] = {0, 0};
  auto measure_peaks = [&] {
    fma1.gflops = std::max(fma1.gflops, aero::measure_fma_peak(1).gflops);
    aero::FmaPeak f = aero::measure_fma_peak(nt);
    if (f.gflops > fma.gflops) fma = f;
    for (int i = 0; i < 2; i++) {
      const int n = 1024 << i;
      square[i] =
          std::max(square[i], aero::measure_sgemm(false, false, n, n, n, 0.0f, 0.4).best_gflops);
      sgemm_peak = std::max(sgemm_peak, square[i]);
    }
  };
  measure_peaks();
  for (const Config& c : kConfigs) {
    if (!only.empty() && only != c.name) continue;
    for (const Layer& l : layers_of(c))
      for (const Pass& p : passes_of(c, l)) measure(p.s);
  }
  measure_peaks();
  std::printf("sgemm square: 1024^3 %.0f, 2048^3 %.0f GFLOP/s\n", square[0], square[1]);
  std::printf(
      "peaks: sgemm %.0f GFLOP/s (%d threads) = %.0f%% of FMA peak %.0f (%s; 1 thread %.0f)\n",
      sgemm_peak, nt, 100 * sgemm_peak / fma.gflops, fma.gflops, fma.isa.c_str(), fma1.gflops);
  if (bandwidth) {
    aero::Bandwidth bw = aero::measure_bandwidth(nt);
    std::printf("memory: read %.1f GB/s, copy %.1f GB/s, triad %.1f GB/s (%zu MiB, %d threads)\n",
                bw.read_gbs, bw.copy_gbs, bw.triad_gbs, bw.bytes >> 20, bw.threads);
  }

  std::vector<std::tuple<std::string, double, double>> summary;
  for (const Config& c : kConfigs) {
    if (!only.empty() && only != c.name) continue;
    const int tokens = c.B * c.T;
    std::printf("\n%s: %d tokens per step (B=%d T=%d), C=%d, L=%d, V=%d\n", c.name, tokens, c.B,
                c.T, c.C, c.L, c.V);
    std::printf("  %-9s %-4s %-3s %6s %6s %6s %9s %7s %6s%s\n", "layer", "pass", "op", "M", "N",
                "K", "GFLOP/s", "%sgemm", "%fma", g_builtin ? "  builtin %" : "");
    double flops_total = 0, time_total = 0;
    for (const Layer& l : layers_of(c)) {
      for (const Pass& p : passes_of(c, l)) {
        const Timed& t = measure(p.s);
        const double flops = 2.0 * p.s.M * p.s.N * p.s.K * l.count;
        flops_total += flops;
        time_total += flops / (t.gflops * 1e9);
        std::printf("  %-9s %-4s %s%s  %6d %6d %6d %9.1f %6.0f%% %5.0f%%", l.name, p.pass,
                    p.s.ta ? "T" : "N", p.s.tb ? "T" : "N", p.s.M, p.s.N, p.s.K, t.gflops,
                    100 * t.gflops / sgemm_peak, 100 * t.gflops / fma.gflops);
        if (g_builtin)
          std::printf("  %6.1f %4.0f%%", t.builtin_gflops, 100 * t.builtin_gflops / t.gflops);
        std::printf("\n");
      }
    }
    const double avg = flops_total / time_total * 1e-9;
    std::printf(
        "  FLOP-weighted: %.1f GFLOP/s = %.0f%% of sgemm peak, %.0f%% of FMA peak "
        "(%.1f GFLOP per step)\n",
        avg, 100 * avg / sgemm_peak, 100 * avg / fma.gflops, flops_total * 1e-9);
    summary.emplace_back(c.name, avg, flops_total);
  }
  std::printf("\nsummary (FLOP-weighted, %% of sgemm peak %.0f / FMA peak %.0f GFLOP/s):\n",
              sgemm_peak, fma.gflops);
  for (auto& [name, avg, flops] : summary)
    std::printf("  %-11s %7.1f GFLOP/s %5.0f%% %5.0f%%  gemm ms/step %.1f\n", name.c_str(), avg,
                100 * avg / sgemm_peak, 100 * avg / fma.gflops, flops / (avg * 1e9) * 1e3);
  return 0;
}
