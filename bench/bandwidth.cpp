// bandwidth: memory bandwidth (streaming read, copy, triad) and FMA peak on 1..N threads, i.e. the
// two limits that every kernel's speed is measured against.
//
//   bandwidth [--mib N] [--repeat R] [--cpu-time]
//
// Prints the best of R runs per thread count (default 3): the cores may be shared. --cpu-time
// times by the busiest thread's CPU time (see gemm_bench).
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/threads.h"
#include "kernels/peak.h"

int main(int argc, char** argv) {
  size_t mib = 512;
  int repeat = 3;
  bool cpu_time = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--cpu-time")) {
      cpu_time = true;
    } else {
      std::fprintf(stderr, "usage: bandwidth [--mib N] [--repeat R] [--cpu-time]\n");
      return 2;
    }
  }
  if (cpu_time) {
    aero::reexec_with_env(argv, "OMP_WAIT_POLICY", "passive");
    aero::set_probe_clock(aero::ProbeClock::cpu);
  }
  const int nt = aero::num_threads();
  std::printf("%-8s %10s %10s %10s %12s\n", "threads", "read GB/s", "copy GB/s", "triad GB/s",
              "FMA GFLOP/s");
  for (int t = 1; t <= nt; t++) {
    aero::Bandwidth best;
    double fma = 0;
    for (int r = 0; r < repeat; r++) {
      aero::Bandwidth bw = aero::measure_bandwidth(t, mib << 20);
      best.read_gbs = std::max(best.read_gbs, bw.read_gbs);
      best.copy_gbs = std::max(best.copy_gbs, bw.copy_gbs);
      best.triad_gbs = std::max(best.triad_gbs, bw.triad_gbs);
      fma = std::max(fma, aero::measure_fma_peak(t).gflops);
    }
    std::printf("%-8d %10.1f %10.1f %10.1f %12.0f\n", t, best.read_gbs, best.copy_gbs,
                best.triad_gbs, fma);
  }
  std::printf("buffer %zu MiB, %s; copy and triad count bytes read + written (STREAM)\n", mib,
              cpu_time ? "busiest thread's CPU time" : "wall clock");
  return 0;
}
