#include "core/threads.h"

#include <omp.h>

#include <cstdlib>

#include "core/cpu.h"
#include "kernels/gemm.h"

namespace aero {
namespace {

int default_threads() {
  for (const char* var : {"AERO_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return cpu_info().logical_cpus;
}

int g_threads = 0;

}  // namespace

int num_threads() {
  if (g_threads == 0) set_num_threads(default_threads());
  return g_threads;
}

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  omp_set_num_threads(n);
  gemm_set_threads(n);
}

}  // namespace aero
