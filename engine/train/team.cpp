#include "team.h"

namespace r1 {

Team::Team(int size) : size_(size), slots_(size_t(size)) {
  if (size < 1) fail("a team needs at least one rank (got ", size, ")");
}

void Team::abort(int rank, const std::string& reason) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_) return;  // the first failure is the one reported
    aborted_ = true;
    reason_ = cat("rank ", rank, " failed: ", reason);
  }
  cv_.notify_all();
}

bool Team::aborted() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return aborted_;
}

void Team::throw_aborted() const {
  throw TeamAborted(reason_);
}

std::vector<Team::Slot> Team::exchange(int rank, Slot value) {
  if (rank < 0 || rank >= size_) fail("rank ", rank, " is outside a team of ", size_);
  std::unique_lock<std::mutex> lock(mutex_);
  if (aborted_) throw_aborted();
  slots_[size_t(rank)] = std::move(value);
  if (++arrived_ == size_) {
    last_ = slots_;
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return last_;
  }
  const uint64_t gen = generation_;
  cv_.wait(lock, [&] { return generation_ != gen || aborted_; });
  if (generation_ == gen) throw_aborted();
  // last_ stays valid until every rank of this generation has copied it: the next generation cannot
  // complete before this rank arrives again.
  return last_;
}

}  // namespace r1
