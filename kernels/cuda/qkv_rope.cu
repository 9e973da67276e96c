#include <stdexcept>

#include "device_utils.cuh"
#include "launch.cuh"
#include "qkv_rope.cuh"

namespace r1::cuda {
namespace {

constexpr int kWarps = 4;

// Head h of row t (q heads first, then k, then v) with bias, norm and rotary applied; lane holds dims
// lane, lane + 32, ... in out[]. buf: head_dim floats of this warp's shared memory.
__device__ inline void rope_head_warp(const QkvRopeArgs& a, int64_t t, int h, float* buf,
                                      float (&out)[kRopeMaxHeadDim / 32]) {
  const int lane = threadIdx.x & 31;
  const int D = a.head_dim, half = a.rot_dim / 2;
  const int64_t row_stride = int64_t(a.heads + 2 * a.kv_heads) * D;
  const bool is_q = h < a.heads, is_k = !is_q && h < a.heads + a.kv_heads;
  const bf16* src = a.qkv + t * row_stride + int64_t(h) * D;
  float ss = 0;
  for (int d = lane; d < D; d += 32) {
    float x = __bfloat162float(src[d]);
    if (a.bias) x += __bfloat162float(a.bias[int64_t(h) * D + d]);
    buf[d] = x;
    ss += x * x;
  }
  const bf16* norm = is_q ? a.q_norm : (is_k ? a.k_norm : nullptr);
  if (norm) {
    const float inv = rsqrtf(warp_sum(ss) / float(D) + a.eps);
    for (int d = lane; d < D; d += 32) buf[d] = buf[d] * inv * __bfloat162float(norm[d]);
  }
  __syncwarp();
  const float* cs = a.cos_sin + int64_t(a.positions[t]) * a.rot_dim;
  int n = 0;
  for (int d = lane; d < D; d += 32, ++n) {
    float r = buf[d];
    if ((is_q || is_k) && d < a.rot_dim) {
      int i, partner;
      bool first;
      if (a.interleaved) {
        i = d >> 1;
        first = (d & 1) == 0;
        partner = first ? d + 1 : d - 1;
      } else {
        first = d < half;
        i = first ? d : d - half;
        partner = first ? d + half : d - half;
      }
      const float c = cs[i], s = cs[half + i];
      r = first ? buf[d] * c - buf[partner] * s : buf[d] * c + buf[partner] * s;
    }
    out[n] = r;
  }
  __syncwarp();
}

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
