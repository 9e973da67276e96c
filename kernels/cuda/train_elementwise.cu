#include <algorithm>

#include "device_utils.cuh"
#include "train_elementwise.h"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t work) {
  return unsigned(std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, 1 << 20));
}

// h = silu(g) u:  dg = dh u s (1 + g (1 - s)),  du = dh g s,  with s = sigmoid(g).
__device__ __forceinline__ void swiglu_grad(float g, float u, float dh, float& dg, float& du) {
  const float s = 1.0f / (1.0f + __expf(-g));
  dg = dh * u * s * (1.0f + g * (1.0f - s));
  du = dh * g * s;
}

template <int VEC>
__global__ void swiglu_backward_kernel(bf16* dgu, const bf16* dh, const bf16* gu, int64_t T, int64_t inter) {
  const int64_t per_row = inter / VEC, total = T * per_row;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / per_row, i = (idx % per_row) * VEC;
    const int64_t gate = t * 2 * inter + i, up = gate + inter, h = t * inter + i;
    if constexpr (VEC == 8) {
      float g[8], u[8], d[8], dg[8], du[8];
      unpack(*reinterpret_cast<const Bf16x8*>(gu + gate), g);
      unpack(*reinterpret_cast<const Bf16x8*>(gu + up), u);
      unpack(*reinterpret_cast<const Bf16x8*>(dh + h), d);
#pragma unroll
      for (int k = 0; k < 8; ++k) swiglu_grad(g[k], u[k], d[k], dg[k], du[k]);
      *reinterpret_cast<Bf16x8*>(dgu + gate) = pack(dg);
      *reinterpret_cast<Bf16x8*>(dgu + up) = pack(du);
    } else {
      float dg, du;
      swiglu_grad(__bfloat162float(gu[gate]), __bfloat162float(gu[up]), __bfloat162float(dh[h]), dg, du);
      dgu[gate] = __float2bfloat16_rn(dg);
      dgu[up] = __float2bfloat16_rn(du);
    }
  }
}

// A block per token; Hopper adds four floats in one atomic.
template <int VEC>
__global__ void embedding_backward_kernel(float* dtable, const int32_t* ids, const float* dy, int64_t dim) {
  const int64_t t = blockIdx.x;
  float* row = dtable + int64_t(ids[t]) * dim;
  const float* src = dy + t * dim;
  for (int64_t i = threadIdx.x * int64_t(VEC); i < dim; i += int64_t(blockDim.x) * VEC) {
    if constexpr (VEC == 4) {
      const float4 d = *reinterpret_cast<const float4*>(src + i);
#if __CUDA_ARCH__ >= 900
      atomicAdd(reinterpret_cast<float4*>(row + i), d);
#else
      atomicAdd(row + i, d.x);
      atomicAdd(row + i + 1, d.y);
      atomicAdd(row + i + 2, d.z);
      atomicAdd(row + i + 3, d.w);
#endif
    } else {
      atomicAdd(row + i, src[i]);
    }
  }
}

template <int VEC>
__global__ void f32_to_bf16_kernel(bf16* dst, const float* src, int64_t n) {
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x,
                stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t vecs = n / VEC;
  for (int64_t i = first; i < vecs; i += stride) {
    if constexpr (VEC == 8) {
      const float4 a = reinterpret_cast<const float4*>(src)[2 * i],
                   b = reinterpret_cast<const float4*>(src)[2 * i + 1];
      const float f[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
      reinterpret_cast<Bf16x8*>(dst)[i] = pack(f);
    } else {
      dst[i] = __float2bfloat16_rn(src[i]);
    }
  }
  const int64_t tail = vecs * VEC + first;
  if (tail < n) dst[tail] = __float2bfloat16_rn(src[tail]);
}

}  // namespace

void swiglu_backward(bf16* dgate_up, const bf16* dh, const bf16* gate_up, int64_t T, int64_t inter,
                     cudaStream_t stream) {
  if (T <= 0 || inter <= 0) return;
  if (inter % 8 == 0 && aligned(dgate_up, 16) && aligned(dh, 16) && aligned(gate_up, 16)) {
    swiglu_backward_kernel<8>
        <<<grid_for(T * inter / 8), kThreads, 0, stream>>>(dgate_up, dh, gate_up, T, inter);
  } else {
    swiglu_backward_kernel<1><<<grid_for(T * inter), kThreads, 0, stream>>>(dgate_up, dh, gate_up, T, inter);
  }
  R1_CUDA_LAUNCHED();
}

void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t dim,
                        cudaStream_t stream) {
  if (T <= 0 || dim <= 0) return;
  const int threads = int(std::clamp<int64_t>((dim / 4 + 31) / 32 * 32, 32, 256));
  if (dim % 4 == 0 && aligned(dtable, 16) && aligned(dy, 16)) {
    embedding_backward_kernel<4><<<unsigned(T), threads, 0, stream>>>(dtable, ids, dy, dim);
  } else {
    embedding_backward_kernel<1><<<unsigned(T), threads, 0, stream>>>(dtable, ids, dy, dim);
  }
  R1_CUDA_LAUNCHED();
}

void f32_to_bf16(bf16* dst, const float* src, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned(dst, 16) && aligned(src, 16);
  const int64_t work = vec ? std::max<int64_t>(n / 8, n % 8) : n;
  if (vec) {
    f32_to_bf16_kernel<8><<<grid_for(work), kThreads, 0, stream>>>(dst, src, n);
  } else {
    f32_to_bf16_kernel<1><<<grid_for(work), kThreads, 0, stream>>>(dst, src, n);
  }
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
