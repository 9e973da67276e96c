#include <stdexcept>

#include "launch.cuh"
#include "qkv_rope.cuh"

namespace r1::cuda {
namespace {

constexpr int kWarps = 4;

// grid: (rows, ceil(heads / kWarps)); a warp per head.
__global__ void __launch_bounds__(kWarps * 32) qkv_rope_kernel(const QkvRopeArgs a) {
  __shared__ float buf[kWarps][kRopeMaxHeadDim];
  allow_next_kernel();
  wait_for_previous_kernel();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t t = blockIdx.x;
  const int D = a.head_dim;
  const int total_heads = a.heads + 2 * a.kv_heads;
  for (int h = blockIdx.y * kWarps + warp; h < total_heads; h += int(gridDim.y) * kWarps) {
    float out[kRopeMaxHeadDim / 32];
    rope_head_warp(a, t, h, buf[warp], out);
    bf16* dst = h < a.heads ? a.q_out + (t * a.heads + h) * D : rope_cache_dst(a, t, h);
    int n = 0;
    for (int d = lane; d < D; d += 32, ++n) dst[d] = __float2bfloat16_rn(out[n]);
  }
}

}  // namespace

void qkv_rope(const QkvRopeArgs& a, cudaStream_t stream) {
  if (a.head_dim > kRopeMaxHeadDim || a.rot_dim > a.head_dim || a.rot_dim % 2)
    throw std::invalid_argument("qkv_rope: head_dim must be <= 256 and rot_dim even and <= head_dim");
  if (a.T <= 0) return;
  const int heads = a.heads + 2 * a.kv_heads;
  const dim3 grid(unsigned(a.T), unsigned((heads + kWarps - 1) / kWarps));
  launch_chained(qkv_rope_kernel, grid, dim3(kWarps * 32), 0, stream, a);
}

}  // namespace r1::cuda
