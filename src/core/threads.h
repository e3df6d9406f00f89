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

}  // namespace aero
