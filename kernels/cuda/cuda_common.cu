#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "cuda_common.h"

namespace r1::cuda {

void throw_cuda(cudaError_t err, const char* expr, const char* file, int line) {
  // Clear a launch error that is not sticky, so the next check after this failure does not see it again
  // and a later run in the same process can go on using the device.
  cudaGetLastError();
  std::ostringstream os;
  os << "CUDA error " << int(err) << " (" << cudaGetErrorName(err) << ": " << cudaGetErrorString(err)
     << ") in " << expr << " at " << file << ":" << line;
  throw CudaError(os.str(), int(err));
}

namespace {
__global__ void fault_kernel() {}
}  // namespace

void fault_point(cudaStream_t stream) {
  static std::atomic<long> calls{0};
  const char* env = std::getenv("R1WB_CUDA_FAULT_AFTER");
  if (!env || !*env) {
    calls = 0;
    return;
  }
  if (++calls <= std::atol(env)) return;
  calls = 0;
  fault_kernel<<<1, 4096, 0, stream>>>();  // more threads per block than any device allows
  R1_CUDA_LAUNCHED();
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" status
    return 0;
  }
  return n;
}

DeviceInfo device_info(int device) {
  if (device < 0) R1_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp p{};
  R1_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  DeviceInfo d;
  d.name = p.name;
  d.sm_count = p.multiProcessorCount;
  d.major = p.major;
  d.minor = p.minor;
  d.max_shared_per_block = p.sharedMemPerBlockOptin;
  R1_CUDA_CHECK(cudaMemGetInfo(&d.free_memory, &d.total_memory));
  return d;
}

double measure_copy_bandwidth() {
  const size_t bytes = size_t(1) << 30;
  DeviceBuffer a(bytes), b(bytes);
  R1_CUDA_CHECK(cudaMemset(a.get(), 1, bytes));
  cudaEvent_t start, stop;
  R1_CUDA_CHECK(cudaEventCreate(&start));
  R1_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int i = 0; i < 12; ++i) {
    R1_CUDA_CHECK(cudaEventRecord(start));
    R1_CUDA_CHECK(cudaMemcpy(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice));
    R1_CUDA_CHECK(cudaEventRecord(stop));
    R1_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    R1_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    if (i >= 2) ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return 2.0 * double(bytes) / (double(ms[ms.size() / 2]) * 1e-3);
}

void DeviceBuffer::allocate(size_t bytes) {
  release();
  if (bytes == 0) return;
  R1_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  bytes_ = bytes;
}

void DeviceBuffer::release() {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

namespace {

// A kernel attribute set once per device and attribute: attributes belong to the device's context.
void set_attribute_once(const void* kernel, cudaFuncAttribute attr, int value) {
  static std::mutex mutex;
  static std::set<std::tuple<int, const void*, int>> done;
  int dev = 0;
  R1_CUDA_CHECK(cudaGetDevice(&dev));
  const std::lock_guard<std::mutex> lock(mutex);
  if (done.count({dev, kernel, int(attr)})) return;
  R1_CUDA_CHECK(cudaFuncSetAttribute(kernel, attr, value));
  done.insert({dev, kernel, int(attr)});
}

}  // namespace

void set_max_dynamic_smem(const void* kernel, int bytes) {
  set_attribute_once(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

void set_chained_carveout(const void* kernel) {
  set_attribute_once(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, kChainedCarveout);
}

int sm_count() {
  static const int n = [] {
    int dev = 0, count = 0;
    R1_CUDA_CHECK(cudaGetDevice(&dev));
    R1_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
    return count;
  }();
  return n;
}

}  // namespace r1::cuda
