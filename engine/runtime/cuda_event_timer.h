#pragma once
// Times a sequence of GPU work with CUDA events on the default stream: `warmup` untimed runs, then `runs`
// timed ones; returns the median in microseconds, or the fastest when `fastest` is set (clock changes only
// ever slow a run down, so comparisons of near-equal candidates use the fastest).
#include <functional>

namespace r1 {

double event_time_us(const std::function<void()>& op, int warmup, int runs, bool fastest = false);

}  // namespace r1
