#include "parallel.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace r1::cpu {
namespace {

thread_local bool in_parallel_region = false;

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    std::lock_guard lock(run_mutex_);
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { loop(i); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
    const int64_t parts =
        std::min<int64_t>(size(), std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
    if (parts <= 1 || in_parallel_region) {
      fn(0, n);
      return;
    }
    std::lock_guard run_lock(run_mutex_);
    {
      std::lock_guard lock(mutex_);
      fn_ = &fn;
      n_ = n;
      parts_ = parts;
      pending_ = int(parts) - 1;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    in_parallel_region = true;
    try {
      fn(0, n / parts);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    in_parallel_region = false;
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    in_parallel_region = true;
    for (;;) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= parts_) continue;
      const auto* fn = fn_;
      const int64_t begin = n_ * index / parts_, end = n_ * (index + 1) / parts_;
      lock.unlock();
      try {
        (*fn)(begin, end);
      } catch (...) {
        std::lock_guard elock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, parts_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p(int(std::max(1u, std::thread::hardware_concurrency())));
  return p;
}

}  // namespace

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  pool().run(n, fn, min_chunk);
}

int num_threads() {
  return pool().size();
}

void set_num_threads(int n) {
  pool().resize(std::max(1, n));
}

}  // namespace r1::cpu
