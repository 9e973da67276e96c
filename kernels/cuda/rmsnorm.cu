#include "device_utils.cuh"
#include "rmsnorm.h"

namespace r1::cuda {
namespace {

__global__ void rmsnorm_kernel(bf16* y, const float* x, const bf16* w, int64_t dim, float eps,
                               const int32_t* row_index) {
  const int64_t r = blockIdx.x;
  const float* xr = x + (row_index ? int64_t(row_index[r]) : r) * dim;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  __shared__ float partial[32];
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float inv = rsqrtf(partial[0] / float(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
    y[r * dim + i] = __float2bfloat16_rn(xr[i] * inv * __bfloat162float(w[i]));
}

}  // namespace

void rmsnorm_forward(bf16* y, const float* x, const bf16* w, int64_t rows, int64_t dim, float eps,
                     cudaStream_t stream, const int32_t* row_index) {
  if (rows <= 0) return;
  rmsnorm_kernel<<<unsigned(rows), 256, 0, stream>>>(y, x, w, dim, eps, row_index);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
