#pragma once
// Ctrl-C (SIGINT) or SIGTERM during a training run stops it after the current step, so the run saves a
// checkpoint instead of being lost. The handlers are installed for the guard's lifetime.
#include <atomic>

namespace r1::cli {

class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  const std::atomic<bool>* flag() const;
};

}  // namespace r1::cli
