#include "core/threads.h"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"

namespace aero {
namespace {

// First positive integer of AERO_THREADS or OMP_NUM_THREADS ("4,2" nesting lists give 4).
int default_threads() {
  for (const char* var : {"AERO_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return cpu_info().usable_cpus;
}

std::atomic<int> g_threads{0};

}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_acquire);
  if (n > 0) return n;
  static std::once_flag once;
  std::call_once(once, [] {
    if (g_threads.load() == 0) set_num_threads(default_threads());
  });
  return g_threads.load(std::memory_order_acquire);
}

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads.store(n, std::memory_order_release);
  omp_set_num_threads(n);
}

void reexec_with_env(char** argv, const char* var, const char* value) {
  const char* cur = std::getenv(var);
  if (cur && std::strcmp(cur, value) == 0) return;
  setenv(var, value, 1);
  // Under OMP_PROC_BIND libgomp has bound this thread to its first place; the new image would
  // inherit that one-CPU mask and see one CPU. It gets back the CPUs of all places, which are the
  // mask the process started with.
  if (const int places = omp_get_num_places(); places > 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int p = 0; p < places; p++) {
      std::vector<int> ids(static_cast<size_t>(omp_get_place_num_procs(p)));
      omp_get_place_proc_ids(p, ids.data());
      for (int id : ids)
        if (id >= 0 && id < CPU_SETSIZE) CPU_SET(id, &set);
    }
    if (CPU_COUNT(&set) > 0) sched_setaffinity(0, sizeof(set), &set);
  }
  execv("/proc/self/exe", argv);
  fail("[threads] could not re-run with ", var, "=", value, ": ", std::strerror(errno));
}

void tune_openmp_runtime(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  try {
    reexec_with_env(argv, "GOMP_SPINCOUNT", "10000");
  } catch (const Error& e) {
    std::fprintf(stderr, "aero: warning: %s\n", e.what());
  }
}

}  // namespace aero
