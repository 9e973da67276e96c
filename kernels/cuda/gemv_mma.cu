// The decode GEMV from three vectors on, on tensor cores. A warp multiplies a tile of 8 weight rows by the
// B input vectors with mma.m16n8k16: the vectors are A's rows g < B (rows g + 8 are zero) and the weight
// rows are B's columns. Lane (g, t) loads 16 bytes of weight row g at k0 + 8 t and the same 16 bytes of
// vector g; the k order inside a product is permuted the same way on both sides, so no value is unpacked or
// converted, where the FMA form (gemv_fma.cu) spends two instructions per weight and vector. Lane (g, t)
// ends with vector g's sums of tile rows 2 t and 2 t + 1.
//
// Decode of the 1.5B shape on the H200, against the FMA form in the same call (tok/s): batch 3 1 827-1 836
// -> 2 044-2 050, batch 4 2 062-2 067 -> 2 643-2 660, batch 8 2 295-2 300 -> 4 670-4 675. Batch 1 and 2
// stay on the FMA form, which was faster there.
#include <algorithm>

#include "gemv_parts.cuh"

namespace r1::cuda {
namespace {

// One block of 24 warps to an SM, so each SM stages the input vectors once (8-warp blocks, three to an SM,
// measured 3 057-3 542 tok/s at batch 8).
constexpr int kWarps = 24, kThreads = kWarps * 32;
constexpr int kSteps = 4;          // 32-element k steps whose weights a thread has in flight
constexpr int kMinSliceSteps = 4;  // a K slice is at least this many steps

// load_streaming() returned as a uint4. Calling load_streaming() and reinterpreting its Bf16x8, together
// with computing the slice-sum pass's RMSNorm scales once per block, changed the register allocation and ran
// batch 3, 4 and 8 at 1 982-1 987, 2 529-2 549 and 4 544-4 569 tok/s against 2 048-2 061, 2 648-2 663 and
// 4 679-4 693 (1.5B shape, H200, same call).
__device__ __forceinline__ uint4 load_streaming16(const bf16* p) {
  const int4 raw = __ldcs(reinterpret_cast<const int4*>(p));
  return *reinterpret_cast<const uint4*>(&raw);
}

// KS warps share a tile, each over a contiguous slice of K; blocks loop over tile groups so the input is
// staged once per block. A warp's first weights are requested before the input is staged, and the next
// tile's before this tile's sums are written. A SwiGLU output's tile holds 4 gate rows (columns 0-3) and
// their up rows (4-7), so lane t < 2 finds its up sums in lane t + 2. When KS > 1 the warps leave their
// slice sums in shared memory and the block adds them once, after its last tile.
template <int B, GemvInput IN, GemvOutput OUT>
__global__ void __launch_bounds__(kThreads, 1) gemv_mma_kernel(const GemvArgs a, int KS, int iters) {
  __shared__ float sq_sums[kWarps][B];
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);
  constexpr bool kPair = OUT == GemvOutput::SwiGluBf16;
  constexpr bool kAcc = OUT == GemvOutput::F32Accumulate;
  constexpr int kOut = kPair ? 4 : 8;  // output rows of a tile (a SwiGLU tile: 4 gate rows and their up rows)
  const int kTilesPerBlock = kWarps / KS;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int gx = g < B ? g : B - 1;
  const int tib = warp / KS, slice = warp % KS;
  const int64_t K = a.k;
  const int64_t rows = kPair ? a.n / 2 : a.n;
  const int64_t tiles = (rows + kOut - 1) / kOut;
  const int64_t ksteps = (K + 31) / 32;
  const int64_t s0 = ksteps * slice / KS, s1 = ksteps * (slice + 1) / KS;
  const int64_t ldy = a.ldy ? a.ldy : rows;
  const int64_t tstep = int64_t(gridDim.x) * kTilesPerBlock;
  float* partial =
      reinterpret_cast<float*>(smem + size_t(B) * size_t(K) * sizeof(bf16));  // [iters][warp][8][B]
  const auto wrow = [&](int64_t tile) {
    int64_t r = kPair ? (g < 4 ? tile * 4 + g : rows + tile * 4 + g - 4) : tile * 8 + g;
    const int64_t last = kPair && g >= 4 ? 2 * rows - 1 : rows - 1;  // rows past the end: sums not stored
    return a.w + (r < last ? r : last) * K;
  };
  uint4 w[kSteps];
  const auto load = [&](const bf16* wr, int64_t s) {
#pragma unroll
    for (int u = 0; u < kSteps; ++u) {
      const int64_t k0 = (s + u) * 32 + t * 8;
      w[u] = s + u < s1 && k0 < K ? load_streaming16(wr + k0) : make_uint4(0, 0, 0, 0);
    }
  };
  int64_t tile = int64_t(blockIdx.x) * kTilesPerBlock + tib;
  const bf16* wr = wrow(tile);
  if (!a.dependents_after_wait) allow_next_kernel();
  if (tile < tiles) load(wr, s0);  // weights: no kernel writes them
  wait_for_previous_kernel();
  if (a.dependents_after_wait) allow_next_kernel();
  const auto* y_in = static_cast<const float*>(a.y);
  // An accumulated output's old values for the first tile, requested before the input is staged.
  float y_first[2] = {0.0f, 0.0f};
  if (kAcc && KS == 1 && g < B && tile < tiles)
#pragma unroll
    for (int e = 0; e < 2; ++e)
      if (tile * 8 + 2 * t + e < rows) y_first[e] = y_in[g * ldy + tile * 8 + 2 * t + e];
  stage_input<B, IN, kThreads>(xs, a, sq_sums);
  const float scale = IN == GemvInput::RmsNormF32 ? rms_scale<B, kWarps>(sq_sums, gx, K, a.eps) : 1.0f;
  const bf16* xrow = xs + gx * K;
  int it = 0;
  for (int64_t base = tile - tib; base < tiles; base += tstep, tile += tstep, ++it) {
    float c[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    if (tile < tiles) {
      for (int64_t s = s0; s < s1; s += kSteps) {
#pragma unroll
        for (int u = 0; u < kSteps; ++u) {
          const int64_t k0 = (s + u) * 32 + t * 8;
          if (s + u >= s1) continue;
          const uint4 xv = k0 < K ? *reinterpret_cast<const uint4*>(xrow + k0) : make_uint4(0, 0, 0, 0);
          const uint32_t a0[4] = {xv.x, 0u, xv.y, 0u}, a1[4] = {xv.z, 0u, xv.w, 0u};
          mma::mma16816(c[0], a0, w[u].x, w[u].y);
          mma::mma16816(c[1], a1, w[u].z, w[u].w);
        }
        if (s + kSteps < s1) load(wr, s + kSteps);
      }
    }
    // The next tile's first weights requested while this tile's sums are written.
    const int64_t next = tile + tstep;
    wr = wrow(next);
    if (next < tiles) load(wr, s0);
    float v[2] = {c[0][0] + c[1][0], c[0][1] + c[1][1]};  // vector g, tile rows 2t, 2t + 1
    if (KS > 1) {
      if (g < B && tile < tiles)
#pragma unroll
        for (int e = 0; e < 2; ++e) partial[((it * kWarps + warp) * 8 + 2 * t + e) * B + g] = v[e];
      continue;
    }
    if constexpr (kPair) {
      const float up0 = __shfl_xor_sync(0xffffffffu, v[0], 2), up1 = __shfl_xor_sync(0xffffffffu, v[1], 2);
      if (g >= B || t >= 2 || tile >= tiles) continue;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int64_t row = tile * 4 + 2 * t + e;
        if (row < rows) store_output<OUT>(a, rows, ldy, row, g, v[e] * scale, (e ? up1 : up0) * scale, 0.0f);
      }
    } else {
      if (g >= B || tile >= tiles) continue;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int64_t row = tile * 8 + 2 * t + e;
        if (row < rows)
          store_output<OUT>(a, rows, ldy, row, g, v[e] * scale, 0.0f,
                            !kAcc     ? 0.0f
                            : it == 0 ? y_first[e]
                                      : y_in[g * ldy + row]);
      }
    }
  }
  if (KS == 1) return;
  __syncthreads();
  // One thread per (tile of this block, output row of the tile, vector): the sum of its KS slices.
  const int per_it = kTilesPerBlock * kOut * B;
  for (int i = threadIdx.x; i < iters * per_it; i += kThreads) {
    const int ti = i / per_it, r = i % per_it, tb = r / (kOut * B), n = (r / B) % kOut, b = r % B;
    const int64_t tl = int64_t(blockIdx.x) * kTilesPerBlock + tb + int64_t(ti) * tstep;
    const int64_t out_row = tl * kOut + n;
    if (tl >= tiles || out_row >= rows) continue;
    float s = 0.0f, su = 0.0f;
    for (int s2 = 0; s2 < KS; ++s2) {
      const float* p = partial + ((ti * kWarps + tb * KS + s2) * 8) * B;
      s += p[n * B + b];
      if (kPair) su += p[(n + 4) * B + b];
    }
    const float sc = IN == GemvInput::RmsNormF32 ? rms_scale<B, kWarps>(sq_sums, b, K, a.eps) : 1.0f;
    store_output<OUT>(a, rows, ldy, out_row, b, s * sc, su * sc, kAcc ? y_in[b * ldy + out_row] : 0.0f);
  }
}

// The K split (a power of two dividing the block's warps) that fills the most of the resident warp slots
// over the launch's iterations; a larger split must fill 5 % more to be taken. Batch 4 and 8 of the 1.5B
// shape: 2 643-2 660 and 4 670-4 675 tok/s against 2 568-2 577 and 4 572-4 600 with the FMA form's rule
// (split while fewer than 12 tiles an SM).
int choose_split(int64_t tiles, int64_t ksteps, int64_t slots) {
  int ks = 1;
  double best = -1.0;
  for (int split = 1; kWarps % split == 0 && (split == 1 || ksteps / split >= kMinSliceSteps); split *= 2) {
    const int its = plan_wave(tiles, kWarps / split, slots).iters;
    const double filled = double(tiles * split) / double(slots * its * kWarps);
    if (filled > best + 0.05) best = filled, ks = split;
  }
  return ks;
}

template <int B, GemvInput IN, GemvOutput OUT>
void launch(const GemvArgs& a, cudaStream_t stream) {
  constexpr int kOut = OUT == GemvOutput::SwiGluBf16 ? 4 : 8;
  auto* kernel = gemv_mma_kernel<B, IN, OUT>;
  const int64_t rows = OUT == GemvOutput::SwiGluBf16 ? a.n / 2 : a.n;
  const int64_t tiles = (rows + kOut - 1) / kOut;
  const size_t xs_bytes = size_t(B) * size_t(a.k) * sizeof(bf16);
  const int64_t slots = resident_blocks(kernel, kThreads, xs_bytes);
  const auto extra = [](int split, int iters) {
    return split > 1 ? size_t(iters) * kWarps * 8 * B * sizeof(float) : size_t(0);
  };
  launch_wave(kernel, kWarps, tiles, choose_split(tiles, (a.k + 31) / 32, slots), xs_bytes, slots, extra, a,
              stream);
}

}  // namespace

template <int B>
void gemv_mma(const GemvArgs& a, cudaStream_t stream) {
  dispatch_modes(a,
                 [&](auto in, auto out) { launch<B, decltype(in)::value, decltype(out)::value>(a, stream); });
}

template void gemv_mma<3>(const GemvArgs&, cudaStream_t);
template void gemv_mma<4>(const GemvArgs&, cudaStream_t);
template void gemv_mma<5>(const GemvArgs&, cudaStream_t);
template void gemv_mma<6>(const GemvArgs&, cudaStream_t);
template void gemv_mma<7>(const GemvArgs&, cudaStream_t);
template void gemv_mma<8>(const GemvArgs&, cudaStream_t);

}  // namespace r1::cuda
