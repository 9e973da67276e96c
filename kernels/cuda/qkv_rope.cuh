#pragma once
// Device side of qkv_rope.h: one warp forms one head of one row (bias, optional RMSNorm, rotary), shared by
// the head-split kernel and the fused decode attention (attention_decode.cu).
#include "device_utils.cuh"
#include "qkv_rope.h"

namespace r1::cuda {

constexpr int kRopeMaxHeadDim = 256;

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

// Where head h (a k or v head) of row t goes in the paged cache.
__device__ inline bf16* rope_cache_dst(const QkvRopeArgs& a, int64_t t, int h) {
  const bool is_k = h < a.heads + a.kv_heads;
  const int slot = a.slot_of_row[t];
  const int64_t block = slot / a.kv.block_size, off = slot % a.kv.block_size;
  const int kvh = is_k ? h - a.heads : h - a.heads - a.kv_heads;
  bf16* base = is_k ? a.kv.k_block(a.layer, block) : a.kv.v_block(a.layer, block);
  return base + (int64_t(kvh) * a.kv.block_size + off) * a.head_dim;
}

}  // namespace r1::cuda
