#include "kernels/elementwise.h"

#include <omp.h>

namespace aero {

void add_forward(float* out, const float* a, const float* b, int64_t N, int64_t R) {
  int64_t rows = N / R;
#pragma omp parallel for if (N > 65536 && !omp_in_parallel())
  for (int64_t r = 0; r < rows; r++) {
    const float* ar = a + r * R;
    float* o = out + r * R;
#pragma omp simd
    for (int64_t i = 0; i < R; i++) o[i] = ar[i] + b[i];
  }
}

void add_backward(float* da, float* db, const float* dout, int64_t N, int64_t R) {
  if (da) {
#pragma omp parallel for simd if (N > 65536 && !omp_in_parallel())
    for (int64_t i = 0; i < N; i++) da[i] += dout[i];
  }
  if (db) {
    int64_t rows = N / R;
    // Split the R columns across threads so no two threads write the same db element.
#pragma omp parallel if (N > 65536 && !omp_in_parallel())
    {
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      int64_t c0 = R * t / nt, c1 = R * (t + 1) / nt;
      for (int64_t r = 0; r < rows; r++) {
        const float* d = dout + r * R;
#pragma omp simd
        for (int64_t i = c0; i < c1; i++) db[i] += d[i];
      }
    }
  }
}

}  // namespace aero
