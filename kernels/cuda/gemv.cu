#include <algorithm>
#include <stdexcept>

#include "device_utils.cuh"
#include "gemv.h"

namespace r1::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;

template <int B, GemvInput IN>
__device__ void stage_input(bf16* xs, const GemvArgs& a) {
  const int64_t K = a.k;
  const int tid = threadIdx.x;
  if constexpr (IN == GemvInput::Bf16) {
    const auto* src = static_cast<const Bf16x8*>(a.x);
    auto* dst = reinterpret_cast<Bf16x8*>(xs);
    for (int64_t i = tid; i < B * K / 8; i += kThreads) dst[i] = src[i];
  } else if constexpr (IN == GemvInput::SwiGluBf16) {
    const auto* gu = static_cast<const bf16*>(a.x);
    for (int64_t i = tid; i < B * K; i += kThreads) {
      const int64_t b = i / K, j = i % K;
      const float g = __bfloat162float(gu[b * 2 * K + j]), u = __bfloat162float(gu[b * 2 * K + K + j]);
      xs[i] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
    }
  } else {
    __shared__ float inv[B];
    const auto* x = static_cast<const float*>(a.x);
    const int warp = tid >> 5, lane = tid & 31;
    for (int b = warp; b < B; b += kWarps) {
      float ss = 0;
      for (int64_t i = lane; i < K; i += 32) ss += x[b * K + i] * x[b * K + i];
      ss = warp_sum(ss);
      if (lane == 0) inv[b] = rsqrtf(ss / float(K) + a.eps);
    }
    __syncthreads();
    for (int64_t i = tid; i < B * K; i += kThreads) {
      const int64_t b = i / K, j = i % K;
      xs[i] = __float2bfloat16_rn(x[i] * inv[b] * __bfloat162float(a.norm_w[j]));
    }
  }
  __syncthreads();
}

// KS warps share a row, each summing a contiguous slice of K, so that short matrices (N of a few thousand
// rows) still put enough loads in flight; blocks loop over row groups so the input is staged once per block.
template <int B, GemvInput IN, GemvOutput OUT>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const GemvArgs a, int KS) {
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);
  __shared__ float partial[kWarps][B];
  stage_input<B, IN>(xs, a);
  const int kRowsPerBlock = kWarps / KS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row_in_block = warp / KS, slice = warp % KS;
  const int64_t K = a.k;
  // The K range of this warp's slice, in whole 256-element (one warp-wide load) chunks where possible.
  const int64_t chunks = (K + 255) / 256;
  const int64_t c0 = chunks * slice / KS, c1 = chunks * (slice + 1) / KS;
  const int64_t ldy = a.ldy ? a.ldy : a.n;
  for (int64_t base = int64_t(blockIdx.x) * kRowsPerBlock; base < a.n;
       base += int64_t(gridDim.x) * kRowsPerBlock) {
    const int64_t row = base + row_in_block;
    float acc[B];
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = 0.0f;
    if (row < a.n) {
      const bf16* wr = a.w + row * K;
      int64_t c = c0;
      for (; c + 3 < c1; c += 4) {
        Bf16x8 wv[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const int64_t k0 = (c + u) * 256 + lane * 8;
          wv[u] = k0 < K ? load_streaming(wr + k0) : Bf16x8{};
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const int64_t k0 = (c + u) * 256 + lane * 8;
          if (k0 >= K) continue;
          float wf[8];
          unpack(wv[u], wf);
#pragma unroll
          for (int b = 0; b < B; ++b) {
            float xf[8];
            unpack(*reinterpret_cast<const Bf16x8*>(xs + b * K + k0), xf);
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[b] = fmaf(wf[i], xf[i], acc[b]);
          }
        }
      }
      for (; c < c1; ++c) {
        const int64_t k0 = c * 256 + lane * 8;
        if (k0 >= K) continue;
        float wf[8];
        unpack(load_streaming(wr + k0), wf);
#pragma unroll
        for (int b = 0; b < B; ++b) {
          float xf[8];
          unpack(*reinterpret_cast<const Bf16x8*>(xs + b * K + k0), xf);
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[b] = fmaf(wf[i], xf[i], acc[b]);
        }
      }
    }
#pragma unroll
    for (int b = 0; b < B; ++b) acc[b] = warp_sum(acc[b]);
    if (KS > 1) {
      if (lane == 0)
#pragma unroll
        for (int b = 0; b < B; ++b) partial[warp][b] = acc[b];
      __syncthreads();
      if (slice == 0)
#pragma unroll
        for (int b = 0; b < B; ++b)
          for (int s2 = 1; s2 < KS; ++s2) acc[b] += partial[warp + s2][b];
      __syncthreads();
    }
    if (slice != 0 || lane != 0 || row >= a.n) continue;
    const float bias = a.bias ? __bfloat162float(a.bias[row]) : 0.0f;
#pragma unroll
    for (int b = 0; b < B; ++b) {
      const float s = acc[b] + bias;
      if constexpr (OUT == GemvOutput::Bf16) {
        static_cast<bf16*>(a.y)[b * ldy + row] = __float2bfloat16_rn(s);
      } else if constexpr (OUT == GemvOutput::F32) {
        static_cast<float*>(a.y)[b * ldy + row] = s;
      } else {
        static_cast<float*>(a.y)[b * ldy + row] += s;
      }
    }
  }
}

// Enough warps for the whole chip: short matrices split K over up to 8 warps per row.
template <int B, GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  const size_t smem = size_t(B) * size_t(a.k) * sizeof(bf16);
  static const bool configured = [] {
    R1_CUDA_CHECK(cudaFuncSetAttribute(gemv_kernel<B, IN, OUT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       200 * 1024));
    return true;
  }();
  (void)configured;
  const int64_t want_warps = int64_t(sm_count()) * 48;
  int ks = 1;
  while (ks < kWarps && a.n * ks < want_warps && a.k / (256 * ks) >= 2) ks *= 2;
  const int rows_per_block = kWarps / ks;
  const int64_t groups = (a.n + rows_per_block - 1) / rows_per_block;
  // Inputs made on the fly cost a prologue per block: fewer, longer-lived blocks amortise it.
  const int per_sm = IN == GemvInput::Bf16 ? 8 : (IN == GemvInput::RmsNormF32 ? 6 : 2);
  const unsigned blocks = unsigned(std::min<int64_t>(groups, int64_t(sm_count()) * per_sm));
  gemv_kernel<B, IN, OUT><<<blocks, kThreads, smem, stream>>>(a, ks);
  R1_CUDA_LAUNCHED();
}

template <int B, GemvInput IN>
void by_output(const GemvArgs& a, cudaStream_t s) {
  switch (a.output) {
    case GemvOutput::Bf16:
      return launch<B, IN, GemvOutput::Bf16>(a, s);
    case GemvOutput::F32:
      return launch<B, IN, GemvOutput::F32>(a, s);
    case GemvOutput::F32Accumulate:
      return launch<B, IN, GemvOutput::F32Accumulate>(a, s);
  }
}

template <int B>
void by_input(const GemvArgs& a, cudaStream_t s) {
  switch (a.input) {
    case GemvInput::Bf16:
      return by_output<B, GemvInput::Bf16>(a, s);
    case GemvInput::RmsNormF32:
      return by_output<B, GemvInput::RmsNormF32>(a, s);
    case GemvInput::SwiGluBf16:
      return by_output<B, GemvInput::SwiGluBf16>(a, s);
  }
}

}  // namespace

bool gemv_supports(int64_t batch, int64_t k) {
  return batch >= 1 && batch <= kGemvMaxBatch && k % 8 == 0 && batch * k * 2 <= 200 * 1024;
}

void gemv(const GemvArgs& a, cudaStream_t s) {
  if (!gemv_supports(a.batch, a.k))
    throw std::invalid_argument("gemv: unsupported batch or k (k must be a multiple of 8)");
  if (a.n <= 0) return;
  switch (a.batch) {
    case 1:
      return by_input<1>(a, s);
    case 2:
      return by_input<2>(a, s);
    case 3:
      return by_input<3>(a, s);
    case 4:
      return by_input<4>(a, s);
    case 5:
      return by_input<5>(a, s);
    case 6:
      return by_input<6>(a, s);
    case 7:
      return by_input<7>(a, s);
    default:
      return by_input<8>(a, s);
  }
}

}  // namespace r1::cuda
