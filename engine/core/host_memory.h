#pragma once
// Host memory the engine may plan with, so a runtime or trainer that cannot fit is refused before it
// allocates (Linux overcommits: a vector too large is not refused, it is killed while being zeroed).
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace r1 {

// The smallest of: MemAvailable (/proc/meminfo), what the process's cgroup still allows
// (memory.max - memory.current), and R1WB_HOST_MEMORY_MB when set. 0 when none can be read.
int64_t host_available_bytes();

struct MemoryItem {
  std::string_view name;
  int64_t bytes;
};
// Throws OutOfMemoryError "<what> needs X MiB (a: ..., b: ...) but Y MiB of host memory are available;
// <hint>" when the items add up to more than host_available_bytes().
void check_host_memory(std::string_view what, std::initializer_list<MemoryItem> items, std::string_view hint);

// Sizes fp32 buffers in two passes: the first only adds up what they will take, so the total can be checked
// before anything is allocated; after allocate() the same calls resize them.
class BufferSizer {
 public:
  void operator()(std::vector<float>& v, int64_t n) {
    if (allocating_)
      v.resize(static_cast<size_t>(n));
    else
      floats_ += n;
  }
  int64_t bytes() const { return floats_ * 4; }
  void allocate() { allocating_ = true; }

 private:
  int64_t floats_ = 0;
  bool allocating_ = false;
};

}  // namespace r1
