// Elementwise kernels. "Row broadcast": b has R elements and is applied to every row of a
// (N = rows * R); R == N is the plain elementwise case. Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

void add_forward(float* out, const float* a, const float* b, int64_t N, int64_t R);
void add_backward(float* da, float* db, const float* dout, int64_t N, int64_t R);

}  // namespace aero
