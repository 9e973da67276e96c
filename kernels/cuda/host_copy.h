#pragma once
// Copies from pinned host memory that a kernel does itself, reading over the bus: a step's small inputs
// arrive in one round trip inside the step's launch (or CUDA graph) instead of a separate copy operation
// before it, which costs several microseconds however few bytes it moves. The runtime's step inputs are
// copied by the step's first kernel (embedding_forward).
#include "cuda_common.h"

namespace r1::cuda {

struct HostCopyRanges {
  static constexpr int kMax = 8;
  int64_t offset[kMax] = {};  // in 32-bit words, the same in source and destination
  int64_t count[kMax] = {};   // words; 0: unused
};

// The device address of pinned host memory allocated with cudaMallocHost.
template <typename T>
T* host_device_pointer(T* host) {
  void* p = nullptr;
  R1_CUDA_CHECK(cudaHostGetDevicePointer(&p, host, 0));
  return static_cast<T*>(p);
}

}  // namespace r1::cuda
