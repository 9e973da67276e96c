#include <algorithm>
#include <stdexcept>

#include "device_utils.cuh"
#include "gemv.h"
#include "launch.cuh"
#include "mma.cuh"

namespace r1::cuda {
namespace {

// Warps per block (kWarps, a template parameter below): at batch 1, 8 (three blocks to an SM); from
// kWideFrom vectors on, 24 (one block to an SM, staging the inputs once per SM, not three times). Decode of
// the 1.5B shape on the H200, same call: batch 2, 4, 8 at 1 455, 2 081, 2 296-2 304 tok/s against 1 367,
// 1 984-1 991, 2 171; 24 warps at batch 1 measured slower (804-811 against 842-849).
constexpr int kNarrowWarps = 8, kWideWarps = 24, kWideFrom = 2;

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

// One batch of a warp's weight loads: kChunks 256-element chunks from chunk c on, of each of its R rows.
template <int R, int kChunks>
struct WeightBatch {
  Bf16x8 w[R][kChunks];

  __device__ __forceinline__ void load(const bf16* const (&wr)[R], int64_t K, int64_t c, int64_t c1,
                                       int lane) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int u = 0; u < kChunks; ++u) {
        const int64_t k0 = (c + u) * 256 + lane * 8;
        w[r][u] = c + u < c1 && k0 < K ? load_streaming(wr[r] + k0) : Bf16x8{};
      }
  }

  template <int B>
  __device__ __forceinline__ void multiply(const bf16* xs, int64_t K, int64_t c, int64_t c1, int lane,
                                           float (&acc)[R][B]) const {
#pragma unroll
    for (int u = 0; u < kChunks; ++u) {
      const int64_t k0 = (c + u) * 256 + lane * 8;
      if (c + u >= c1 || k0 >= K) continue;
#pragma unroll
      for (int b = 0; b < B; ++b) {
        float xf[8];
        unpack(*reinterpret_cast<const Bf16x8*>(xs + b * K + k0), xf);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float wf[8];
          unpack(w[r][u], wf);
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r][b] = fmaf(wf[i], xf[i], acc[r][b]);
        }
      }
    }
  }
};

// Writes one output value: the sum s of a row (and, for a SwiGLU output, su of its up row) for vector b.
template <GemvOutput OUT>
__device__ __forceinline__ void store_output(const GemvArgs& a, int64_t rows, int64_t ldy, int64_t row, int b,
                                             float s, float su, float prior) {
  const float bias = a.bias ? __bfloat162float(a.bias[row]) : 0.0f;
  s += bias;
  if constexpr (OUT == GemvOutput::Bf16) {
    static_cast<bf16*>(a.y)[b * ldy + row] = __float2bfloat16_rn(s);
  } else if constexpr (OUT == GemvOutput::F32) {
    static_cast<float*>(a.y)[b * ldy + row] = s;
  } else if constexpr (OUT == GemvOutput::F32Accumulate) {
    static_cast<float*>(a.y)[b * ldy + row] = prior + s;  // prior: y as it was
  } else {
    // The fused gate/up output rounds to bf16 before the activation, as the unfused path does.
    const float bias_up = a.bias ? __bfloat162float(a.bias[row + rows]) : 0.0f;
    const float g = __bfloat162float(__float2bfloat16_rn(s));
    const float u = __bfloat162float(__float2bfloat16_rn(su + bias_up));
    static_cast<bf16*>(a.y)[b * ldy + row] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
  }
}

// Whether an accumulated output's old values are read right after the wait, one per thread: the block's row
// groups x rows x vectors must fit its threads. The kernel and the launch (which sizes shared memory for them
// when K is not split) both ask this.
__host__ __device__ constexpr bool old_values_early(int iters, int rows_per_block, int B, int threads) {
  return iters * rows_per_block * B <= threads;
}

// KS warps share a row, each summing a contiguous slice of K, so that short matrices (N of a few thousand
// rows) still put enough loads in flight; blocks loop over row groups so the input is staged once per block.
// Loads run ahead of the arithmetic: a warp's first weights are requested before the input is staged, and
// the next row's before this row's sums are reduced. A SwiGLU output has each warp take a gate row and its
// up row together. When KS > 1 the warps leave their slice sums in shared memory and the block adds them up
// once, after its last row, so no warp waits for the others between rows.
template <int B, GemvInput IN, GemvOutput OUT, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 24 / kWarps) gemv_kernel(const GemvArgs a, int KS, int iters) {
  constexpr int kThreads = kWarps * 32;
  __shared__ float sq_sums[kWarps][B];  // RMSNorm input: each warp's share of each vector's sum of squares
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  constexpr int R = kPair ? 2 : 1;
  constexpr int kChunks = kPair ? 2 : 4;
  const int kRowsPerBlock = kWarps / KS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row_in_block = warp / KS, slice = warp % KS;
  const int64_t K = a.k;
  float* partial =
      reinterpret_cast<float*>(smem + size_t(B) * size_t(K) * sizeof(bf16));  // [iters][warp][R][B]
  const int64_t rows = kPair ? a.n / 2 : a.n;
  // The K range of this warp's slice, in whole 256-element (one warp-wide load) chunks where possible.
  const int64_t chunks = (K + 255) / 256;
  const int64_t c0 = chunks * slice / KS, c1 = chunks * (slice + 1) / KS;
  const int64_t ldy = a.ldy ? a.ldy : rows;
  const int64_t step = int64_t(gridDim.x) * kRowsPerBlock;
  const auto row_ptrs = [&](int64_t row, const bf16*(&wr)[R]) {
#pragma unroll
    for (int r = 0; r < R; ++r) wr[r] = a.w + (row + r * rows) * K;
  };
  WeightBatch<R, kChunks> batch;
  int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + row_in_block;
  const bf16* wr[R];
  row_ptrs(row, wr);
  allow_next_kernel();
  if (row < rows) batch.load(wr, K, c0, c1, lane);  // weights: no kernel writes them
  wait_for_previous_kernel();
  // An accumulated output's old values are requested now, so their round trip overlaps the staging: one per
  // thread, thread i holding (block row rib of the block's t-th row group, vector b), i = (t * rows per
  // block + rib) * B + b.
  constexpr bool kAcc = OUT == GemvOutput::F32Accumulate;
  const int per_it = kRowsPerBlock * B;
  const bool y_early = kAcc && old_values_early(iters, kRowsPerBlock, B, kThreads);
  const auto out_row_of = [&](int i) {
    return int64_t(blockIdx.x) * kRowsPerBlock + (i % per_it) / B + int64_t(i / per_it) * step;
  };
  const auto* y_in = static_cast<const float*>(a.y);
  float y_mine = 0.0f;
  if (y_early && int(threadIdx.x) < iters * per_it && out_row_of(threadIdx.x) < rows)
    y_mine = y_in[(threadIdx.x % B) * ldy + out_row_of(threadIdx.x)];
  stage_input<B, IN, kThreads>(xs, a, sq_sums);
  float* y_old = partial + (KS > 1 ? iters * kWarps * R * B : 0);  // [iters][rows per block][B], KS == 1
  if (y_early && KS == 1) {
    if (int(threadIdx.x) < iters * per_it) y_old[threadIdx.x] = y_mine;
    __syncthreads();
  }
  // The RMSNorm scale of each vector, from the warps' sums added in a fixed order (an atomic sum would make
  // the last bit depend on the order the warps finish in).
  float scales[B];
#pragma unroll
  for (int b = 0; b < B; ++b) {
    scales[b] = 1.0f;
    if constexpr (IN == GemvInput::RmsNormF32) {
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += sq_sums[w][b];
      scales[b] = rsqrtf(sum / float(K) + a.eps);
    }
  }
  int it = 0;
  for (int64_t base = row - row_in_block; base < rows; base += step, row += step, ++it) {
    float acc[R][B];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
    if (row < rows) {
      for (int64_t c = c0; c < c1; c += kChunks) {
        batch.template multiply<B>(xs, K, c, c1, lane, acc);
        if (c + kChunks < c1) batch.load(wr, K, c + kChunks, c1, lane);
      }
    }
    // Prefetch the next row's first weights while this row's sums are reduced and written.
    const int64_t next = row + step;
    const bf16* next_wr[R];
    row_ptrs(next, next_wr);
    if (next < rows) batch.load(next_wr, K, c0, c1, lane);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      wr[r] = next_wr[r];
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = warp_sum(acc[r][b]);
    }
    if (lane != 0 || row >= rows) continue;
    if (KS > 1) {
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int b = 0; b < B; ++b) partial[((it * kWarps + warp) * R + r) * B + b] = acc[r][b];
      continue;
    }
#pragma unroll
    for (int b = 0; b < B; ++b)
      store_output<OUT>(a, rows, ldy, row, b, acc[0][b] * scales[b], acc[R - 1][b] * scales[b],
                        !kAcc     ? 0.0f
                        : y_early ? y_old[it * per_it + row_in_block * B + b]
                                  : y_in[b * ldy + row]);
  }
  if (KS == 1) return;
  __syncthreads();
  // One thread per (row this block visited, vector): the sum of its KS slices.
  for (int i = threadIdx.x; i < iters * per_it; i += kThreads) {
    const int t = i / per_it, rib = (i % per_it) / B, b = i % B;
    const int64_t out_row = out_row_of(i);
    if (out_row >= rows) continue;
    float s[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      s[r] = 0.0f;
      for (int s2 = 0; s2 < KS; ++s2) s[r] += partial[((t * kWarps + rib * KS + s2) * R + r) * B + b];
    }
    store_output<OUT>(a, rows, ldy, out_row, b, s[0] * scales[b], s[R - 1] * scales[b],
                      !kAcc     ? 0.0f
                      : y_early ? y_mine
                                : y_in[b * ldy + out_row]);
  }
}

constexpr size_t kMaxSmem = 220 * 1024;
constexpr int kWarpsPerSm = 12;

template <int B, GemvInput IN, GemvOutput OUT, int kWarps>
void launch_with(const GemvArgs& a, cudaStream_t stream) {
  constexpr int kThreads = kWarps * 32;
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  constexpr int R = kPair ? 2 : 1;
  auto* kernel = gemv_kernel<B, IN, OUT, kWarps>;
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), int(kMaxSmem));
  const int64_t rows = kPair ? a.n / 2 : a.n;
  // Split K over more warps only while the matrix has fewer than kWarpsPerSm rows per SM: on the H200,
  // fewer, longer slices measured faster (decode of the 1.5B shape at batch 1: 795 tok/s at 12, 768 at 24,
  // 738 at 48; at batch 8: 2 064 against 1 960 at 48).
  const int64_t want_warps = int64_t(sm_count()) * kWarpsPerSm;
  int ks = 1;  // a power of two that divides the block's warps, so that they form whole rows
  while (kWarps % (2 * ks) == 0 && rows * ks < want_warps && a.k / (256 * ks) >= 2) ks *= 2;
  const size_t xs_bytes = size_t(B) * size_t(a.k) * sizeof(bf16);
  // One wave: as many blocks as are resident at once, each staging the input once and looping over rows.
  int per_sm = 0;
  R1_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, xs_bytes));
  const auto plan = [&](int split, int64_t& blocks, int& iters) {
    const int64_t groups = (rows + kWarps / split - 1) / (kWarps / split);
    blocks = std::min<int64_t>(groups, int64_t(sm_count()) * std::max(per_sm, 1));
    iters = int((groups + blocks - 1) / blocks);
    const size_t sums = split > 1 ? size_t(iters) * kWarps * R * B : 0;
    const bool early =
        OUT == GemvOutput::F32Accumulate && split == 1 && old_values_early(iters, kWarps, B, kThreads);
    const size_t y_old = early ? size_t(iters) * kWarps * B : 0;
    return xs_bytes + (sums + y_old) * sizeof(float);
  };
  int64_t blocks = 0;
  int iters = 0;
  size_t smem = plan(ks, blocks, iters);
  if (smem > kMaxSmem) smem = plan(ks = 1, blocks, iters);  // no room for the slice sums
  launch_chained(kernel, dim3(unsigned(blocks)), dim3(kThreads), smem, stream, a, ks, iters);
}

template <int B, GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  if constexpr (B >= kWideFrom)
    launch_with<B, IN, OUT, kWideWarps>(a, stream);
  else
    launch_with<B, IN, OUT, kNarrowWarps>(a, stream);
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
    case GemvOutput::SwiGluBf16:
      return launch<B, IN, GemvOutput::SwiGluBf16>(a, s);
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
  if (a.output == GemvOutput::SwiGluBf16 && a.n % 2)
    throw std::invalid_argument("gemv: a SwiGLU output needs an even number of rows (gate then up)");
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
