// The decode GEMV for one or two vectors: each lane multiplies 16-byte pieces of its warp's weight row by
// the staged input in fp32 FMAs. At these batch sizes the step waits on memory round trips, not on issuing
// instructions, and this form (a row per warp, more warps) measured faster than the tensor-core one
// (gemv_mma.cu): decode of the 1.5B shape on the H200 at batch 1, 841-845 against 699-724 tok/s; at batch
// 2, 1 445-1 449 against 1 383.
#include <algorithm>

#include "gemv_parts.cuh"

namespace r1::cuda {
namespace {

// Warps per block (kWarps, a template parameter below): at batch 1, 8 (three blocks to an SM); at batch 2,
// 24 (one block to an SM, staging the inputs once per SM, not three times). Decode of the 1.5B shape on the
// H200, same call: batch 2 at 1 455 tok/s against 1 367; 24 warps at batch 1 measured slower (804-811
// against 842-849).
constexpr int kNarrowWarps = 8, kWideWarps = 24;

// 256-element chunks of a row in one batch of a warp's loads. At batch 2: 2 for a gate/up pair, 4 otherwise.
// At batch 1: 3 for a pair, 6 otherwise, so that a row of the 1.5B shape's hidden width (1 536) is requested
// in one batch, before the wait (below). Decode of the 1.5B shape on the H200 at batch 1, same calls: the
// LM head's 6 against 4, 850-852 tok/s against 846-847; the pair's 3 against 2, 851-856 against 843-850,
// and 870-877 against 868 with the unsplit rows below.
template <int B, GemvOutput OUT>
constexpr int chunks_per_batch() {
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  if constexpr (B == 1) return kPair ? 3 : 6;
  return kPair ? 2 : 4;
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

  // Even and odd chunks go to two sums, added at the end, so that the warp's chain of dependent FMAs (which
  // the next batch's loads wait behind) is half as long.
  template <int B>
  __device__ __forceinline__ void multiply(const bf16* xs, int64_t K, int64_t c, int64_t c1, int lane,
                                           float (&acc)[R][B]) const {
    float part[2][R][B] = {};
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
          for (int i = 0; i < 8; ++i) part[u & 1][r][b] = fmaf(wf[i], xf[i], part[u & 1][r][b]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] += part[0][r][b] + part[1][r][b];
  }
};

// With a.best (kBest: one vector, F32 output), the block's best of its threads' `mine` goes to
// a.best[block]. Every thread of the block calls it.
template <bool kBest>
__device__ __forceinline__ void keep_best(const GemvArgs& a, ArgBest mine, ArgBest* scratch) {
  if constexpr (kBest) {
    if (!a.best) return;
    mine = block_best(mine, scratch);
    if (threadIdx.x == 0) a.best[blockIdx.x] = mine;
  }
}

// Whether an accumulated output's old values are read right after the wait, one per thread: the block's row
// groups x rows x vectors must fit its threads. The kernel and the launch (which sizes shared memory for them
// when K is not split) both ask this.
__host__ __device__ constexpr bool old_values_early(int iters, int rows_per_block, int B, int threads) {
  return iters * rows_per_block * B <= threads;
}

// KS warps share a row, so that short matrices (N of a few thousand rows) still put enough loads in flight;
// blocks loop over row groups so the input is staged once per block. The row's batches of kChunks chunks are
// dealt out in turn (slice s sums batches s, s + KS, ...), so that in each round the warps of a row read
// neighbouring pieces of it. Decode of the 1.5B shape on the H200, same calls: batch 2 at 1 477-1 494 tok/s
// against 1 429-1 455 with each slice a contiguous part of the row; batch 1 the same within noise.
// Loads run ahead of the arithmetic: a warp's first weights are requested before the input is staged, and
// the next row's before this row's sums are reduced. A SwiGLU output has each warp take a gate row and its
// up row together. When KS > 1 the warps leave their slice sums in shared memory and the block adds them up
// once, after its last row, so no warp waits for the others between rows.
template <int B, GemvInput IN, GemvOutput OUT, int kWarps>
__global__ void __launch_bounds__(kWarps * 32, 24 / kWarps) gemv_kernel(const GemvArgs a, int KS, int iters) {
  constexpr int kThreads = kWarps * 32;
  __shared__ float sq_sums[kWarps][B];  // RMSNorm input: each warp's share of each vector's sum of squares
  __shared__ ArgBest best_of[kWarps];   // a.best: each warp's best output
  // a.best: this thread's best output so far (GemvArgs::best)
  constexpr bool kBest = B == 1 && OUT == GemvOutput::F32;
  ArgBest mine{-INFINITY, 0};
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  constexpr int R = kPair ? 2 : 1;
  constexpr int kChunks = chunks_per_batch<B, OUT>();
  const int kRowsPerBlock = kWarps / KS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row_in_block = warp / KS, slice = warp % KS;
  const int64_t K = a.k;
  float* partial =
      reinterpret_cast<float*>(smem + size_t(B) * size_t(K) * sizeof(bf16));  // [iters][warp][R][B]
  const int64_t rows = kPair ? a.n / 2 : a.n;
  // This warp's batches: from chunk c0 (256 elements, one warp-wide load), every cstep chunks, below c1.
  const int64_t c1 = (K + 255) / 256, c0 = int64_t(slice) * kChunks, cstep = int64_t(KS) * kChunks;
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
  if (!a.dependents_after_wait) allow_next_kernel();
  if (row < rows) batch.load(wr, K, c0, c1, lane);  // weights: no kernel writes them
  wait_for_previous_kernel();
  if (a.dependents_after_wait) allow_next_kernel();
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
  float scales[B];  // each vector's RMSNorm scale
#pragma unroll
  for (int b = 0; b < B; ++b)
    scales[b] = IN == GemvInput::RmsNormF32 ? rms_scale<B, kWarps>(sq_sums, b, K, a.eps) : 1.0f;
  int it = 0;
  for (int64_t base = row - row_in_block; base < rows; base += step, row += step, ++it) {
    float acc[R][B];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
    if (row < rows) {
      for (int64_t c = c0; c < c1; c += cstep) {
        batch.template multiply<B>(xs, K, c, c1, lane, acc);
        if (c + cstep < c1) batch.load(wr, K, c + cstep, c1, lane);
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
    for (int b = 0; b < B; ++b) {
      const float v =
          store_output<OUT>(a, rows, ldy, row, b, acc[0][b] * scales[b], acc[R - 1][b] * scales[b],
                            !kAcc     ? 0.0f
                            : y_early ? y_old[it * per_it + row_in_block * B + b]
                                      : y_in[b * ldy + row]);
      if (kBest) mine = better(mine, ArgBest{v, int32_t(row)});
    }
  }
  if (KS == 1) return keep_best<kBest>(a, mine, best_of);
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
    const float v = store_output<OUT>(a, rows, ldy, out_row, b, s[0] * scales[b], s[R - 1] * scales[b],
                                      !kAcc     ? 0.0f
                                      : y_early ? y_mine
                                                : y_in[b * ldy + out_row]);
    if (kBest) mine = better(mine, ArgBest{v, int32_t(out_row)});
  }
  keep_best<kBest>(a, mine, best_of);
}

constexpr int kWarpsPerSm = 12;

template <int B, GemvInput IN, GemvOutput OUT, int kWarps>
GemvLaunch plan(const GemvArgs& a) {
  constexpr int kThreads = kWarps * 32;
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  constexpr int R = kPair ? 2 : 1;
  auto* kernel = gemv_kernel<B, IN, OUT, kWarps>;
  const int64_t rows = kPair ? a.n / 2 : a.n;
  // Split K over more warps only while the matrix has fewer than kWarpsPerSm rows per SM: on the H200,
  // fewer, longer slices measured faster (decode of the 1.5B shape at batch 1: 795 tok/s at 12, 768 at 24,
  // 738 at 48; at batch 8: 2 064 against 1 960 at 48).
  const int64_t want_warps = int64_t(sm_count()) * kWarpsPerSm;
  int ks = 1;  // a power of two that divides the block's warps, so that they form whole rows
  // At batch 1 a row that one batch holds is not split: each warp requests all of its row before the wait,
  // and the kernel takes half the warps. The o projection is such a matrix: its blocks wait through the
  // decode attention, and the room they leave on each SM lets the gate/up blocks start there and request
  // their first weights while the attention runs. Decode of the 1.5B shape on the H200, same calls:
  // 873-880 tok/s against 850-858 with o split over two warps a row; unsplit but in two batches, 830-837.
  const bool whole_rows = B == 1 && a.k <= int64_t(chunks_per_batch<B, OUT>()) * 256;
  // Every slice gets at least one batch.
  const int64_t chunks = (a.k + 255) / 256;
  while (!whole_rows && kWarps % (2 * ks) == 0 && rows * ks < want_warps &&
         (2 * ks - 1) * int64_t(chunks_per_batch<B, OUT>()) < chunks)
    ks *= 2;
  const size_t xs_bytes = size_t(B) * size_t(a.k) * sizeof(bf16);
  const auto extra = [&](int split, int iters) {
    const size_t sums = split > 1 ? size_t(iters) * kWarps * R * B : 0;
    const bool early =
        OUT == GemvOutput::F32Accumulate && split == 1 && old_values_early(iters, kWarps, B, kThreads);
    const size_t y_old = early ? size_t(iters) * kWarps * B : 0;
    return (sums + y_old) * sizeof(float);
  };
  return plan_launch(kWarps, rows, ks, xs_bytes, resident_blocks(kernel, kThreads, xs_bytes), extra);
}

template <int B, GemvInput IN, GemvOutput OUT, int kWarps>
void launch_with(const GemvArgs& a, cudaStream_t stream) {
  launch_planned(gemv_kernel<B, IN, OUT, kWarps>, kWarps, plan<B, IN, OUT, kWarps>(a), a, stream);
}

}  // namespace

template <int B>
void gemv_fma(const GemvArgs& a, cudaStream_t stream) {
  constexpr int kWarps = B == 1 ? kNarrowWarps : kWideWarps;
  dispatch_modes(a, [&](auto in, auto out) {
    launch_with<B, decltype(in)::value, decltype(out)::value, kWarps>(a, stream);
  });
}

int64_t gemv_fma_blocks(const GemvArgs& a) {
  int64_t blocks = 0;
  dispatch_modes(a, [&](auto in, auto out) {
    blocks = plan<1, decltype(in)::value, decltype(out)::value, kNarrowWarps>(a).wave.blocks;
  });
  return blocks;
}

template void gemv_fma<1>(const GemvArgs&, cudaStream_t);
template void gemv_fma<2>(const GemvArgs&, cudaStream_t);

}  // namespace r1::cuda
