#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace aero {

const EnumNames<ScheduleKind>& schedule_names() {
  static const EnumNames<ScheduleKind> n{{ScheduleKind::constant, "constant"},
                                         {ScheduleKind::cosine, "cosine"},
                                         {ScheduleKind::linear, "linear"}};
  return n;
}

float Schedule::at(int64_t step) const {
  // 1) linear warmup: lr / warmup, 2 lr / warmup, ..., lr
  if (step < warmup_steps) return lr * float(step + 1) / float(warmup_steps);
  // 2) constant after warmup
  if (kind == ScheduleKind::constant) return lr;
  // 3) past the end: stay at min_lr
  if (step >= max_steps) return min_lr;
  // 4) in between: decay from lr to min_lr, along a half cosine or a straight line
  double ratio =
      double(step - warmup_steps) / double(std::max<int64_t>(1, max_steps - warmup_steps));
  double coeff = kind == ScheduleKind::cosine ? 0.5 * (1.0 + std::cos(M_PI * ratio)) : 1.0 - ratio;
  return float(min_lr + coeff * (lr - min_lr));
}

}  // namespace aero
