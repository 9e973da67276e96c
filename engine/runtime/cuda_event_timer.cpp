#include "cuda_event_timer.h"

#include <algorithm>
#include <vector>

#include "kernels/cuda/cuda_common.h"

namespace r1 {

double event_time_us(const std::function<void()>& op, int warmup, int runs, bool fastest) {
  cudaEvent_t a, b;
  R1_CUDA_CHECK(cudaEventCreate(&a));
  R1_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) op();
  std::vector<float> ms;
  for (int i = 0; i < std::max(runs, 1); ++i) {
    R1_CUDA_CHECK(cudaEventRecord(a));
    op();
    R1_CUDA_CHECK(cudaEventRecord(b));
    R1_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    R1_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return double(fastest ? ms.front() : ms[ms.size() / 2]) * 1e3;
}

}  // namespace r1
