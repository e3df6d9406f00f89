// Parallel loops over both cores. parallel_range splits [0, n) into one contiguous chunk per
// thread, with chunk edges on 64-byte boundaries so threads never write the same cache line;
// the caller's inner loop carries `#pragma omp simd`.
//
// Why not `#pragma omp parallel for simd if (...)`: GCC 12 leaves the parallel branch of that
// construct unvectorised, which made GELU 7x slower on two threads than on one.
#pragma once
#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aero {

template <typename F>
inline void parallel_range(int64_t n, int64_t min_parallel, F&& fn) {
  if (n < min_parallel || omp_in_parallel() || omp_get_max_threads() == 1) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    auto edge = [&](int64_t k) { return k == nt ? n : (n * k / nt) & ~int64_t(15); };
    int64_t b = edge(t), e = edge(t + 1);
    if (b < e) fn(b, e);
  }
}

// Sum of fn(b, e) over the chunks of parallel_range, added in chunk order: the result depends
// on the number of threads but not on timing.
template <typename F>
inline double parallel_sum(int64_t n, int64_t min_parallel, F&& fn) {
  if (n < min_parallel || omp_in_parallel() || omp_get_max_threads() == 1) return fn(int64_t(0), n);
  std::vector<double> part(static_cast<size_t>(omp_get_max_threads()), 0.0);
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    auto edge = [&](int64_t k) { return k == nt ? n : (n * k / nt) & ~int64_t(15); };
    int64_t b = edge(t), e = edge(t + 1);
    if (b < e) part[static_cast<size_t>(t)] = fn(b, e);
  }
  double s = 0;
  for (double p : part) s += p;
  return s;
}

}  // namespace aero
