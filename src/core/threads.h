// Threads: aero's kernels run on OpenMP; BLAS (OpenMP build) shares the same thread team, so
// the two never oversubscribe the cores. One setting controls both.
#pragma once

namespace aero {

// Number of threads used by kernels and BLAS. Default: AERO_THREADS, else OMP_NUM_THREADS,
// else the CPUs this process may use.
int num_threads();
void set_num_threads(int n);

}  // namespace aero
