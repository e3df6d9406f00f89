// Learning-rate schedules (nanoGPT's get_lr): linear warmup, then constant, cosine or linear
// decay to min_lr at max_steps.
#pragma once
#include <cstdint>

#include "core/config.h"

namespace aero {

enum class ScheduleKind : uint8_t { constant, cosine, linear };
const EnumNames<ScheduleKind>& schedule_names();

struct Schedule {
  ScheduleKind kind = ScheduleKind::cosine;
  float lr = 1e-3f, min_lr = 1e-4f;
  int64_t warmup_steps = 0, max_steps = 1000;

  // Learning rate of optimizer step `step` (0-based).
  float at(int64_t step) const;
};

}  // namespace aero
