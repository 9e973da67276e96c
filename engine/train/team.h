#pragma once
// The ranks of a data-parallel run, one thread each in this process: they meet at exchange points where
// every rank hands in a value and receives everyone's, in rank order. A rank that fails aborts the team, so
// the others leave their next (or current) exchange with TeamAborted instead of waiting forever.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/core/error.h"

namespace r1 {

class TeamAborted : public Error {
 public:
  using Error::Error;
};

class Team {
 public:
  explicit Team(int size);
  int size() const { return size_; }

  // Every rank calls this with its value; each receives all values, element r from rank r.
  template <class T>
  std::vector<T> all_gather(int rank, T value) {
    const auto got = exchange(rank, std::make_shared<const T>(std::move(value)));
    std::vector<T> out;
    out.reserve(got.size());
    for (const auto& p : got) out.push_back(*static_cast<const T*>(p.get()));
    return out;
  }
  void barrier(int rank) { exchange(rank, nullptr); }

  // Marks the team failed by `rank` for `reason`; ranks waiting now or later throw TeamAborted.
  void abort(int rank, const std::string& reason);
  bool aborted() const;

 private:
  using Slot = std::shared_ptr<const void>;
  std::vector<Slot> exchange(int rank, Slot value);
  [[noreturn]] void throw_aborted() const;  // with mutex_ held

  const int size_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Slot> slots_, last_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool aborted_ = false;
  std::string reason_;
};

}  // namespace r1
