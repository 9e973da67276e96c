#include "cuda_bench_util.h"

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/convert.h"

namespace r1 {

cuda::DeviceBuffer random_device_buffer(int64_t n, bool f32, uint32_t seed) {
  std::vector<float> host(static_cast<size_t>(n));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-0.5f, 0.5f);
  for (auto& v : host) v = d(g);
  cuda::DeviceBuffer staging(host.size() * 4);
  R1_CUDA_CHECK(cudaMemcpy(staging.get(), host.data(), host.size() * 4, cudaMemcpyHostToDevice));
  if (f32) return staging;
  cuda::DeviceBuffer out(host.size() * 2);
  cuda::convert_to_bf16(out.as<cuda::bf16>(), staging.get(), DType::F32, n, nullptr);
  R1_CUDA_CHECK(cudaDeviceSynchronize());
  return out;
}

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
