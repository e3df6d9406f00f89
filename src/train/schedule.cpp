#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace aero {

float Schedule::at(int64_t step) const {
  // 1) linear warmup: lr / warmup, 2 lr / warmup, ..., lr
  if (step < warmup_steps) return lr * float(step + 1) / float(warmup_steps);
  // 2) constant after warmup
  if (kind == "constant") return lr;
  // 3) past the end: stay at min_lr
  if (step >= max_steps) return min_lr;
  // 4) in between: decay from lr to min_lr, along a half cosine or a straight line
  double ratio =
      double(step - warmup_steps) / double(std::max<int64_t>(1, max_steps - warmup_steps));
  double coeff = kind == "cosine" ? 0.5 * (1.0 + std::cos(M_PI * ratio)) : 1.0 - ratio;
  AERO_CHECK(kind == "cosine" || kind == "linear", "[train] unknown schedule '", kind, "'");
  return float(min_lr + coeff * (lr - min_lr));
}

}  // namespace aero
