#include <cuda_fp16.h>

#include "convert.h"

namespace r1::cuda {
namespace {

template <typename T>
__device__ float load_as_float(const T* p, int64_t i);
template <>
__device__ float load_as_float<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ float load_as_float<__half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}

template <typename T>
__global__ void to_bf16_kernel(bf16* dst, const T* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(load_as_float(src, i));
}

__global__ void bf16_to_f32_kernel(float* dst, const bf16* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

int grid_for(int64_t n) {
  return int(std::min<int64_t>((n + 255) / 256, 65535));
}

}  // namespace

void convert_to_bf16(bf16* dst, const void* src, DType t, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  switch (t) {
    case DType::BF16:
      R1_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * 2, cudaMemcpyDeviceToDevice, stream));
      return;
    case DType::F32:
      to_bf16_kernel<<<grid_for(n), 256, 0, stream>>>(dst, static_cast<const float*>(src), n);
      break;
    case DType::F16:
      to_bf16_kernel<<<grid_for(n), 256, 0, stream>>>(dst, static_cast<const __half*>(src), n);
      break;
    default:
      throw std::invalid_argument("convert_to_bf16: source must be F32, F16 or BF16");
  }
  R1_CUDA_LAUNCHED();
}

void bf16_to_f32(float* dst, const bf16* src, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  bf16_to_f32_kernel<<<grid_for(n), 256, 0, stream>>>(dst, src, n);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
