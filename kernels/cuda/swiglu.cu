#include "swiglu.h"

namespace r1::cuda {
namespace {

__global__ void swiglu_kernel(bf16* y, const bf16* gu, int64_t T, int64_t inter) {
  const int64_t n = T * inter;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / inter, i = idx % inter;
    const float g = __bfloat162float(gu[t * 2 * inter + i]);
    const float u = __bfloat162float(gu[t * 2 * inter + inter + i]);
    y[idx] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
}

}  // namespace

void swiglu_forward(bf16* y, const bf16* gate_up, int64_t T, int64_t inter, cudaStream_t stream) {
  const int64_t n = T * inter;
  if (n <= 0) return;
  swiglu_kernel<<<unsigned(std::min<int64_t>((n + 255) / 256, 65535)), 256, 0, stream>>>(y, gate_up, T,
                                                                                         inter);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
