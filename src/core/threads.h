// Threads: aero's kernels run on OpenMP; BLAS (OpenMP build) shares the same thread team, so
// the two never oversubscribe the cores. One setting controls both.
#pragma once

namespace aero {

// Number of threads used by kernels and BLAS. Default: AERO_THREADS, else OMP_NUM_THREADS,
// else the CPUs this process may use (affinity mask, capped by a container's CPU quota).
int num_threads();

// Applies n (at least 1) to OpenMP and to OpenBLAS. OpenMP keeps the count per thread: a
// thread started later (std::thread) should call set_num_threads(num_threads()) before it
// runs kernels.
void set_num_threads(int n);

// Runs this program again (same arguments) with var=value in its environment, unless it is
// already set so: libgomp and OpenBLAS read such variables only when they load. Returns only
// when nothing needed to change; throws if the re-run could not start.
void reexec_with_env(char** argv, const char* var, const char* value);

// Called first thing in main(): unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, re-runs
// the program with a short spin (GOMP_SPINCOUNT=10000). libgomp's default spin (about 300,000
// iterations) is fastest on idle cores but several times slower when anything else runs
// (seed-tiny training: 1,193 vs 6,606 tokens/s at load 9); the short spin kept the idle speed
// (char-small: 42,500-47,600 tokens/s, the same as the default; passive: 26,600-33,500).
void tune_openmp_runtime(char** argv);

}  // namespace aero
