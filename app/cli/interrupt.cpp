#include "interrupt.h"

#include <csignal>

namespace r1::cli {
namespace {
std::atomic<bool> g_interrupted{false};
void on_interrupt(int) {
  g_interrupted.store(true);
}
}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

InterruptGuard::~InterruptGuard() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

const std::atomic<bool>* InterruptGuard::flag() const {
  return &g_interrupted;
}

}  // namespace r1::cli
