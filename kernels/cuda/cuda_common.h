#pragma once
// Host-side helpers for the CUDA kernels: error checks that throw (never exit), device buffers, the bf16
// type. Included by plain C++ code; no device code here.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace r1::cuda {

using bf16 = __nv_bfloat16;

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }
  bool out_of_memory() const { return code_ == int(cudaErrorMemoryAllocation); }

 private:
  int code_;
};

[[noreturn]] void throw_cuda(cudaError_t err, const char* expr, const char* file, int line);

#define R1_CUDA_CHECK(expr)                                                                         \
  do {                                                                                              \
    const cudaError_t r1_cuda_err = (expr);                                                         \
    if (r1_cuda_err != cudaSuccess) ::r1::cuda::throw_cuda(r1_cuda_err, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports bad launch configurations immediately.
#define R1_CUDA_LAUNCHED() R1_CUDA_CHECK(cudaPeekAtLastError())

// Fault injection for the tests of error handling: while R1WB_CUDA_FAULT_AFTER=N is set, every (N+1)-th
// call launches a kernel with an invalid configuration, so the real CUDA error path runs (a launch error,
// which leaves the context usable). Does nothing when the variable is unset.
void fault_point(cudaStream_t stream);

int device_count();  // 0 when no driver or device is present; never throws
int sm_count();      // multiprocessors of the current device (cached: launchers size grids with it)
inline bool aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

struct DeviceInfo {
  std::string name;
  int sm_count = 0;
  int major = 0, minor = 0;
  size_t total_memory = 0, free_memory = 0;
  size_t max_shared_per_block = 0;
};
DeviceInfo device_info(int device = -1);  // -1: the calling thread's current device

// Raises a kernel's dynamic shared memory limit to `bytes`, once per device: the attribute belongs to the
// device's context, so a process that trains on several GPUs sets it on each.
void set_max_dynamic_smem(const void* kernel, int bytes);
// Kernels chained by programmatic dependent launch (launch.cuh) all prefer one split of L1 and shared
// memory, kChainedCarveout percent of the most shared memory, so that a kernel's blocks can start on a
// multiprocessor beside the previous kernel's last ones (a multiprocessor holds blocks of one split at a
// time). Measured on the H200: batch-1 decode 619 -> 702 tokens/s against each kernel's default split.
constexpr int kChainedCarveout = 25;
void set_chained_carveout(const void* kernel);

// Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written (median of 10 copies
// of 1 GiB after a warm-up, timed with events).
double measure_copy_bandwidth();

// An owning device allocation.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { allocate(bytes); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = o.ptr_, bytes_ = o.bytes_;
      o.ptr_ = nullptr, o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void allocate(size_t bytes);
  void release();
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace r1::cuda
