#pragma once
// Device-only helpers shared by the kernels: warp reductions and 16-byte bf16 vector access.
#include <cuda_bf16.h>

#include <cstdint>

namespace r1::cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block, returned to every thread; callable repeatedly (the leading barrier protects reuse).
__device__ inline float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    float s = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
    s = warp_sum(s);
    if (threadIdx.x == 0) total = s;
  }
  __syncthreads();
  return total;
}

// The two dims rotated together by the i-th RoPE angle (kernels/cpu/rope.cpp): adjacent pairs when
// interleaved, else i and i + half.
__device__ __forceinline__ void rope_pair(int i, int half, bool interleaved, int& i0, int& i1) {
  i0 = interleaved ? 2 * i : i;
  i1 = interleaved ? 2 * i + 1 : i + half;
}

// Eight bf16 values moved as one 16-byte word.
struct alignas(16) Bf16x8 {
  __nv_bfloat162 h[4];
};

__device__ __forceinline__ void unpack(const Bf16x8& v, float (&f)[8]) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __bfloat1622float2(v.h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

__device__ __forceinline__ Bf16x8 pack(const float (&f)[8]) {
  Bf16x8 v;
#pragma unroll
  for (int i = 0; i < 4; ++i) v.h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

__device__ __forceinline__ Bf16x8 load_streaming(const __nv_bfloat16* p) {
  // Weights are read once per step: bypass L1 and mark for early eviction from L2.
  const int4 raw = __ldcs(reinterpret_cast<const int4*>(p));
  return *reinterpret_cast<const Bf16x8*>(&raw);
}

// VEC (1 or 4) consecutive values as fp32: one vector access when VEC is 4, so p must then be aligned to it.
template <int VEC>
__device__ __forceinline__ void load_vec(const float* p, float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const float4 x = *reinterpret_cast<const float4*>(p);
    v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
  } else {
    v[0] = *p;
  }
}

template <int VEC>
__device__ __forceinline__ void load_vec(const __nv_bfloat16* p, float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
  } else {
    v[0] = __bfloat162float(*p);
  }
}

template <int VEC>
__device__ __forceinline__ void store_vec(__nv_bfloat16* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 raw;
    raw.x = *reinterpret_cast<const uint32_t*>(&a);
    raw.y = *reinterpret_cast<const uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = raw;
  } else {
    *p = __float2bfloat16_rn(v[0]);
  }
}

// One (row, head)'s output from `used` partial results over disjoint key ranges. Range s holds, at
// p + s * (width + 2), its maximum score, its sum of exponentials relative to that maximum and its
// unnormalised output sums (kBase2: scores in log2 units, exponentials by exp2). A range with no keys has
// maximum -inf; with no keys at all the output is zero. The block's threads stride over the width.
template <bool kBase2>
__device__ void merge_key_ranges(const float* p, int used, int width, __nv_bfloat16* out) {
  const auto ex = [](float v) { return kBase2 ? exp2f(v) : __expf(v); };
  float top = -INFINITY;
  for (int s = 0; s < used; ++s) top = fmaxf(top, p[s * (width + 2)]);
  float total = 0.0f;
  if (top != -INFINITY)
    for (int s = 0; s < used; ++s) total += p[s * (width + 2) + 1] * ex(p[s * (width + 2)] - top);
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    float v = 0.0f;
    if (top != -INFINITY)
      for (int s = 0; s < used; ++s) v += p[s * (width + 2) + 2 + i] * ex(p[s * (width + 2)] - top);
    out[i] = __float2bfloat16_rn(total > 0.0f ? v / total : 0.0f);
  }
}

}  // namespace r1::cuda
