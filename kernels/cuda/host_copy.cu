#include "host_copy.h"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 8;

// Word i of the ranges laid end to end, as an offset into source and destination.
__device__ __forceinline__ int64_t word_offset(const HostCopyRanges& r, int64_t i) {
#pragma unroll
  for (int k = 0; k < HostCopyRanges::kMax; ++k) {
    if (i < r.count[k]) return r.offset[k] + i;
    i -= r.count[k];
  }
  return -1;
}

// Each thread requests all its words of a round before it stores any, so a step's inputs (a few hundred
// words at most) cost one round trip over the bus.
__global__ void __launch_bounds__(kThreads)
    host_copy_kernel(int32_t* dst, const int32_t* src, const HostCopyRanges r, int64_t total) {
  for (int64_t base = 0; base < total; base += int64_t(kThreads) * kUnroll) {
    int32_t v[kUnroll];
    int64_t at[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + int64_t(u) * kThreads + threadIdx.x;
      at[u] = i < total ? word_offset(r, i) : -1;
      if (at[u] >= 0) v[u] = src[at[u]];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (at[u] >= 0) dst[at[u]] = v[u];
  }
}

}  // namespace

void copy_from_host(int32_t* dst, const int32_t* src, const HostCopyRanges& ranges, cudaStream_t stream) {
  int64_t total = 0;
  for (int k = 0; k < HostCopyRanges::kMax; ++k) {
    if (ranges.count[k] < 0 || ranges.offset[k] < 0)
      throw std::invalid_argument("copy_from_host: negative offset or count");
    total += ranges.count[k];
  }
  if (total == 0) return;
  host_copy_kernel<<<1, kThreads, 0, stream>>>(dst, src, ranges, total);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
