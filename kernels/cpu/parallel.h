#pragma once
// A small persistent worker pool for the CPU kernels. parallel_for splits [0, n) into contiguous ranges,
// one per worker, and returns when all are done. Nested calls run serially on the calling thread.
#include <cstdint>
#include <functional>

namespace r1::cpu {

void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                  int64_t min_chunk = 1);
int num_threads();
void set_num_threads(int n);

}  // namespace r1::cpu
