#pragma once
// What the two forms of the decode GEMV share (gemv_fma.cu for one or two vectors, gemv_mma.cu from three
// on; gemv.cu picks): the input vectors staged in shared memory, the output write, and the launchers each
// form instantiates.
#include "cuda_common.h"
#include "device_utils.cuh"
#include "gemv.h"
#include "launch.cuh"
#include "mma.cuh"

#include <algorithm>
#include <type_traits>

namespace r1::cuda {

constexpr size_t kGemvMaxSmem = 220 * 1024;

template <int B>
void gemv_fma(const GemvArgs& a, cudaStream_t stream);  // B = 1, 2
int64_t gemv_fma_blocks(const GemvArgs& a);             // the blocks gemv_fma<1>(a) launches
template <int B>
void gemv_mma(const GemvArgs& a, cudaStream_t stream);  // B = 3 .. kGemvMaxBatch

constexpr int kStageUnroll = 4;  // 16-byte pieces each thread loads before it stores any

// The input vectors, formed once per block in shared memory as bf16. A bf16 input is copied with every piece
// requested at once; the inputs formed on the way load kStageUnroll pieces before they store any. Either way
// a block's prologue costs one or two memory round trips, not one per piece.
template <int B, GemvInput IN, int kThreads>
__device__ void stage_input(bf16* xs, const GemvArgs& a, float (*sq_sums)[B]) {
  const int64_t K = a.k;
  const int tid = threadIdx.x;
  if constexpr (IN == GemvInput::Bf16) {
    // Copied as it is: every piece's copy is requested at once (cp.async, no registers held), so the whole
    // input costs one round trip however long it is.
    const auto* src = static_cast<const Bf16x8*>(a.x);
    auto* dst = reinterpret_cast<Bf16x8*>(xs);
    const int64_t n = B * K / 8;
    for (int64_t i = tid; i < n; i += kThreads) mma::cp_async16(dst + i, src + i, true);
    mma::cp_async_commit();
    mma::cp_async_wait<0>();
  } else if constexpr (IN == GemvInput::SwiGluBf16) {
    const auto* gu = static_cast<const bf16*>(a.x);
    const int64_t per_row = K / 8, n = B * per_row;
    for (int64_t i0 = tid; i0 < n; i0 += kStageUnroll * kThreads) {
      Bf16x8 g[kStageUnroll], up[kStageUnroll];
#pragma unroll
      for (int u = 0; u < kStageUnroll; ++u) {
        const int64_t i = i0 + u * kThreads;
        if (i >= n) continue;
        const bf16* row = gu + (i / per_row) * 2 * K + (i % per_row) * 8;
        g[u] = *reinterpret_cast<const Bf16x8*>(row);
        up[u] = *reinterpret_cast<const Bf16x8*>(row + K);
      }
#pragma unroll
      for (int u = 0; u < kStageUnroll; ++u) {
        const int64_t i = i0 + u * kThreads;
        if (i >= n) continue;
        float gf[8], uf[8];
        unpack(g[u], gf);
        unpack(up[u], uf);
#pragma unroll
        for (int e = 0; e < 8; ++e) gf[e] = gf[e] / (1.0f + __expf(-gf[e])) * uf[e];
        reinterpret_cast<Bf16x8*>(xs)[i] = pack(gf);
      }
    }
  } else {
    // RMSNorm in one pass: x * norm_w is staged and each vector's sum of squares gathered at the same time,
    // a partial sum per warp; the row sums are scaled by rsqrt(mean square + eps) when they are written, not
    // the staged input.
    const auto* x = static_cast<const float4*>(a.x);
    const int64_t per_row = K / 4, n = B * per_row;
    float local[B];
#pragma unroll
    for (int b = 0; b < B; ++b) local[b] = 0.0f;
    for (int64_t i0 = tid; i0 < n; i0 += kStageUnroll * kThreads) {
      float4 v[kStageUnroll];
      uint2 w[kStageUnroll];
#pragma unroll
      for (int u = 0; u < kStageUnroll; ++u) {
        const int64_t i = i0 + u * kThreads;
        if (i >= n) continue;
        v[u] = x[i];
        w[u] = reinterpret_cast<const uint2*>(a.norm_w)[i % per_row];
      }
#pragma unroll
      for (int u = 0; u < kStageUnroll; ++u) {
        const int64_t i = i0 + u * kThreads;
        if (i >= n) continue;
        const float sq = v[u].x * v[u].x + v[u].y * v[u].y + v[u].z * v[u].z + v[u].w * v[u].w;
#pragma unroll
        for (int b = 0; b < B; ++b)
          if (i / per_row == b) local[b] += sq;
        const float2 w01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[u].x));
        const float2 w23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[u].y));
        const float o[4] = {v[u].x * w01.x, v[u].y * w01.y, v[u].z * w23.x, v[u].w * w23.y};
        store_vec<4>(xs + i * 4, o);
      }
    }
#pragma unroll
    for (int b = 0; b < B; ++b) {
      const float t = warp_sum(local[b]);
      if ((tid & 31) == 0) sq_sums[tid >> 5][b] = t;
    }
  }
  __syncthreads();
}

// Writes one output value: the sum s of a row (and, for a SwiGLU output, su of its up row) for vector b.
// Returns what an F32 output stores (0 for the others).
template <GemvOutput OUT>
__device__ __forceinline__ float store_output(const GemvArgs& a, int64_t rows, int64_t ldy, int64_t row,
                                              int b, float s, float su, float prior) {
  const float bias = a.bias ? __bfloat162float(a.bias[row]) : 0.0f;
  s += bias;
  if constexpr (OUT == GemvOutput::Bf16) {
    static_cast<bf16*>(a.y)[b * ldy + row] = __float2bfloat16_rn(s);
  } else if constexpr (OUT == GemvOutput::F32) {
    static_cast<float*>(a.y)[b * ldy + row] = s;
    return s;
  } else if constexpr (OUT == GemvOutput::F32Accumulate) {
    static_cast<float*>(a.y)[b * ldy + row] = prior + s;  // prior: y as it was
  } else {
    // The fused gate/up output rounds to bf16 before the activation, as the unfused path does.
    const float bias_up = a.bias ? __bfloat162float(a.bias[row + rows]) : 0.0f;
    const float g = __bfloat162float(__float2bfloat16_rn(s));
    const float u = __bfloat162float(__float2bfloat16_rn(su + bias_up));
    static_cast<bf16*>(a.y)[b * ldy + row] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
  return 0.0f;
}

// Vector b's RMSNorm scale, rsqrt(mean square + eps), from the warps' sums of squares added in a fixed
// order (an atomic sum would make the last bit depend on the order the warps finish in).
template <int B, int kWarps>
__device__ __forceinline__ float rms_scale(const float (*sq_sums)[B], int b, int64_t K, float eps) {
  float sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) sum += sq_sums[w][b];
  return rsqrtf(sum / float(K) + eps);
}

// The blocks of `kernel` (threads each, xs_bytes of dynamic shared memory) resident at once on the device,
// after raising its shared-memory limit to kGemvMaxSmem.
template <typename Kernel>
int64_t resident_blocks(Kernel kernel, int threads, size_t xs_bytes) {
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), int(kGemvMaxSmem));
  int per_sm = 0;
  R1_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, xs_bytes));
  return int64_t(sm_count()) * std::max(per_sm, 1);
}

// One wave over `units` (rows or tiles) that a block takes per_block at a time: as many blocks as are
// resident at once (at most `slots`), each staging the input once and looping `iters` times.
struct GemvWave {
  int64_t blocks = 0;
  int iters = 0;
};
inline GemvWave plan_wave(int64_t units, int per_block, int64_t slots) {
  const int64_t groups = (units + per_block - 1) / per_block;
  const int64_t blocks = std::min(groups, slots);
  return {blocks, int((groups + blocks - 1) / blocks)};
}

// One wave over `units`: blocks of `warps` warps, KS of which share a unit, with xs_bytes of staged input
// plus extra(ks, iters) bytes of shared memory; ks falls back to 1 when a split's slice sums do not fit.
struct GemvLaunch {
  GemvWave wave;
  int ks = 1;
  size_t smem = 0;
};
template <typename Extra>
GemvLaunch plan_launch(int warps, int64_t units, int ks, size_t xs_bytes, int64_t slots, const Extra& extra) {
  GemvWave w = plan_wave(units, warps / ks, slots);
  size_t smem = xs_bytes + extra(ks, w.iters);
  if (smem > kGemvMaxSmem) {  // no room for the slice sums
    ks = 1;
    w = plan_wave(units, warps, slots);
    smem = xs_bytes + extra(ks, w.iters);
  }
  return {w, ks, smem};
}

// Launches kernel(a, ks, iters) in blocks of `warps` warps as l plans it.
template <typename Kernel>
void launch_planned(Kernel kernel, int warps, const GemvLaunch& l, const GemvArgs& a, cudaStream_t stream) {
  launch_chained(kernel, dim3(unsigned(l.wave.blocks)), dim3(warps * 32), l.smem, stream, a, l.ks,
                 l.wave.iters);
}

// Launches kernel(a, ks, iters) as plan_launch() plans it.
template <typename Kernel, typename Extra>
void launch_wave(Kernel kernel, int warps, int64_t units, int ks, size_t xs_bytes, int64_t slots,
                 const Extra& extra, const GemvArgs& a, cudaStream_t stream) {
  launch_planned(kernel, warps, plan_launch(warps, units, ks, xs_bytes, slots, extra), a, stream);
}

// Calls f(in, out) with the input and output modes of a as std::integral_constant values, so that f can
// pass them on as template arguments.
template <typename F>
void dispatch_modes(const GemvArgs& a, F&& f) {
  using In = GemvInput;
  using Out = GemvOutput;
  const auto with_out = [&](auto in) {
    switch (a.output) {
      case Out::Bf16:
        return f(in, std::integral_constant<Out, Out::Bf16>{});
      case Out::F32:
        return f(in, std::integral_constant<Out, Out::F32>{});
      case Out::F32Accumulate:
        return f(in, std::integral_constant<Out, Out::F32Accumulate>{});
      case Out::SwiGluBf16:
        return f(in, std::integral_constant<Out, Out::SwiGluBf16>{});
    }
  };
  switch (a.input) {
    case In::Bf16:
      return with_out(std::integral_constant<In, In::Bf16>{});
    case In::RmsNormF32:
      return with_out(std::integral_constant<In, In::RmsNormF32>{});
    case In::SwiGluBf16:
      return with_out(std::integral_constant<In, In::SwiGluBf16>{});
  }
}

}  // namespace r1::cuda
