#pragma once
// Learning-rate schedule: linear warm-up from 0 to the peak over warmup_steps, then cosine decay to
// peak * min_ratio at total_steps (constant after). Steps are 1-based: step 1 is the first update.
#include <cstdint>

namespace r1 {

struct LrSchedule {
  double peak = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_ratio = 0.1;

  double at(int64_t step) const;
};

}  // namespace r1
