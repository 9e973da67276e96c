#include "bias_add.h"

namespace r1::cuda {
namespace {

template <typename T>
__device__ float to_f(T v);
template <>
__device__ float to_f<float>(float v) {
  return v;
}
template <>
__device__ float to_f<bf16>(bf16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ T from_f(float v);
template <>
__device__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ bf16 from_f<bf16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void bias_add_kernel(T* y, const bf16* bias, int64_t T_rows, int64_t n, int64_t ld) {
  const int64_t total = T_rows * n;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / n, i = idx % n;
    T& v = y[t * ld + i];
    v = from_f<T>(to_f<T>(v) + __bfloat162float(bias[i]));
  }
}

template <typename T>
void launch(T* y, const bf16* bias, int64_t rows, int64_t n, int64_t ld, cudaStream_t stream) {
  const int64_t total = rows * n;
  if (total <= 0 || !bias) return;
  bias_add_kernel<T>
      <<<unsigned(std::min<int64_t>((total + 255) / 256, 65535)), 256, 0, stream>>>(y, bias, rows, n, ld);
  R1_CUDA_LAUNCHED();
}

}  // namespace

void bias_add_bf16(bf16* y, const bf16* bias, int64_t T, int64_t n, int64_t ld, cudaStream_t stream) {
  launch(y, bias, T, n, ld, stream);
}

void bias_add_f32(float* y, const bf16* bias, int64_t T, int64_t n, int64_t ld, cudaStream_t stream) {
  launch(y, bias, T, n, ld, stream);
}

}  // namespace r1::cuda
