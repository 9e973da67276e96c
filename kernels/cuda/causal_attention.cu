#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "causal_attention.h"
#include "device_utils.cuh"

// The query heads of a group are adjacent in q [B, H, L, Dk], so for each (b, kv head) they form one
// [g*L, Dk] matrix, and S, P, dP, dS form [g*L, L] ones: every product is a single strided-batched GEMM over
// the B*KVH groups, and the group sums of dK and dV fall out of the GEMM's own fp32 accumulation (K = g*L).
// Calls: forward S = scale Q K^T, O = P V; backward dP = dO V^T, dQ = scale dS K, dK = scale dS^T Q,
// dV = P^T dO. O and dO travel head-major through the scratch; out and dout are token-major.

namespace r1::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // a warp per row

size_t align_up(size_t n) {
  return (n + 255) / 256 * 256;
}

size_t scores_bytes(const AttentionShape& s) {
  return align_up(size_t(s.B * s.H) * size_t(s.L) * size_t(s.L) * sizeof(float));
}

// exp(from - to) for rescaling a running sum, where both maxima may still be -inf (an empty lane).
__device__ __forceinline__ float rescale(float from, float to) {
  return from == to ? 1.0f : __expf(from - to);
}

// A warp per row of S; row r is query r % period and sees keys 0..key_offset + r % period. Probabilities may
// overwrite the scores in place (bf16 over the front half of each fp32 row): a chunk's stores only cover
// values this or an earlier chunk loaded, and the __syncwarp orders the chunk's loads before its stores.
template <int VEC>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
    causal_softmax_kernel(bf16* probs, int64_t ldp, const float* scores, int64_t lds, int64_t rows,
                          int64_t period, int64_t cols, int64_t key_offset) {
  const int lane = threadIdx.x & 31;
  const int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int64_t n = key_offset + r % period + 1;
  const float* sr = scores + r * lds;
  float m = -INFINITY, sum = 0;
  for (int64_t j = lane * VEC; j < n; j += 32 * VEC) {
    float x[VEC];
    load_vec<VEC>(sr + j, x);
    float cm = -INFINITY;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      if (j + k >= n) x[k] = -INFINITY;
      cm = fmaxf(cm, x[k]);
    }
    if (cm > m) {
      sum *= rescale(m, cm);
      m = cm;
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) sum += __expf(x[k] - m);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, sum, o);
    const float mm = fmaxf(m, m2);
    sum = sum * rescale(m, mm) + s2 * rescale(m2, mm);
    m = mm;
  }
  const float inv = 1.0f / sum;
  bf16* pr = probs + r * ldp;
  for (int64_t j0 = 0; j0 < cols; j0 += 32 * VEC) {
    const int64_t j = j0 + lane * VEC;
    float p[VEC] = {};
    if (j < n) {
      load_vec<VEC>(sr + j, p);
#pragma unroll
      for (int k = 0; k < VEC; ++k) p[k] = j + k < n ? __expf(p[k] - m) * inv : 0.0f;
    }
    __syncwarp();
    if (j < cols) store_vec<VEC>(pr + j, p);
  }
}

// dS = P (dP - Σ_d dO O) for a warp per row, written as bf16 over the front half of the row's own fp32 dP
// (a bf16 row stride of 2L), so dS needs no scratch of its own. The bf16 written in a chunk only covers fp32
// values of this or earlier chunks, and the __syncwarp orders each chunk's loads before its stores.
template <int VEC>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
    softmax_backward_kernel(float* dp, const bf16* probs, const bf16* dout, const bf16* out, int64_t rows,
                            int64_t L, int64_t H, int64_t Dv) {
  const int lane = threadIdx.x & 31;
  const int64_t r = blockIdx.x * int64_t(kRowsPerBlock) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int64_t l = r % L, bh = r / L, h = bh % H, bi = bh / H, n = l + 1;
  const int64_t tok = ((bi * L + l) * H + h) * Dv;
  float delta = 0;
  for (int64_t d = lane; d < Dv; d += 32)
    delta += __bfloat162float(dout[tok + d]) * __bfloat162float(out[tok + d]);
  delta = warp_sum(delta);
  float* row = dp + r * L;
  bf16* ds = reinterpret_cast<bf16*>(row);
  const bf16* pr = probs + r * L;
  for (int64_t j0 = 0; j0 < L; j0 += 32 * VEC) {
    const int64_t j = j0 + lane * VEC;
    float v[VEC] = {};
    if (j < n) {
      float p[VEC];
      load_vec<VEC>(row + j, v);
      load_vec<VEC>(pr + j, p);
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] = j + k < n ? p[k] * (v[k] - delta) : 0.0f;
    }
    __syncwarp();
    if (j < L) store_vec<VEC>(ds + j, v);
  }
}

// Token-major [B*L, H*Dv] <-> head-major [B, H, L, Dv]: the same Dv-long rows in another order.
template <bool TO_HEAD_MAJOR, int VEC>
__global__ void permute_rows_kernel(bf16* dst, const bf16* src, int64_t B, int64_t H, int64_t L, int64_t Dv) {
  const int64_t per_row = Dv / VEC, total = B * H * L * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t hm_row = i / per_row, c = (i % per_row) * VEC;
    const int64_t l = hm_row % L, bh = hm_row / L, h = bh % H, bi = bh / H;
    const int64_t hm = hm_row * Dv + c, tm = ((bi * L + l) * H + h) * Dv + c;
    const int64_t from = TO_HEAD_MAJOR ? tm : hm, to = TO_HEAD_MAJOR ? hm : tm;
    if constexpr (VEC == 8) {
      *reinterpret_cast<Bf16x8*>(dst + to) = *reinterpret_cast<const Bf16x8*>(src + from);
    } else {
      dst[to] = src[from];
    }
  }
}

template <bool TO_HEAD_MAJOR>
void permute_rows(bf16* dst, const bf16* src, const AttentionShape& s, cudaStream_t stream) {
  const bool vec = s.Dv % 8 == 0 && aligned(dst, 16) && aligned(src, 16);
  const int64_t work = s.B * s.H * s.L * (vec ? s.Dv / 8 : s.Dv);
  const unsigned grid = unsigned(std::min<int64_t>((work + 255) / 256, 1 << 20));
  if (vec) {
    permute_rows_kernel<TO_HEAD_MAJOR, 8><<<grid, 256, 0, stream>>>(dst, src, s.B, s.H, s.L, s.Dv);
  } else {
    permute_rows_kernel<TO_HEAD_MAJOR, 1><<<grid, 256, 0, stream>>>(dst, src, s.B, s.H, s.L, s.Dv);
  }
  R1_CUDA_LAUNCHED();
}

void check(const char* op, const AttentionShape& s) {
  const bool ok = s.B >= 0 && s.L >= 0 && s.H > 0 && s.KVH > 0 && s.H % s.KVH == 0 && s.Dk > 0 && s.Dv > 0 &&
                  (s.H / s.KVH) * s.L <= INT_MAX && s.B * s.KVH <= INT_MAX && 2 * s.L <= INT_MAX;
  if (!ok)
    throw std::invalid_argument(std::string(op) +
                                ": needs H a multiple of KVH, Dk, Dv > 0 and (H/KVH)*L, B*KVH below 2^31");
}

unsigned row_blocks(int64_t rows) {
  return unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

}  // namespace

void causal_softmax(bf16* probs, int64_t ldp, const float* scores, int64_t lds, int64_t rows, int64_t period,
                    int64_t cols, int64_t key_offset, cudaStream_t stream) {
  if (rows <= 0) return;
  if (ldp % 4 == 0 && lds % 4 == 0 && aligned(probs, 8) && aligned(scores, 16)) {
    causal_softmax_kernel<4><<<row_blocks(rows), kRowsPerBlock * 32, 0, stream>>>(
        probs, ldp, scores, lds, rows, period, cols, key_offset);
  } else {
    causal_softmax_kernel<1><<<row_blocks(rows), kRowsPerBlock * 32, 0, stream>>>(
        probs, ldp, scores, lds, rows, period, cols, key_offset);
  }
  R1_CUDA_LAUNCHED();
}

size_t causal_attention_scratch_bytes(const AttentionShape& s) {
  return scores_bytes(s) + size_t(s.B * s.H) * size_t(s.L) * size_t(s.Dv) * sizeof(bf16);
}

void causal_attention_forward(Blas& blas, bf16* out, bf16* probs, const bf16* q, const bf16* k, const bf16* v,
                              void* scratch, const AttentionShape& s, cudaStream_t stream) {
  check("causal_attention_forward", s);
  if (s.B == 0 || s.L == 0) return;
  const int64_t g = s.H / s.KVH, L = s.L, batch = s.B * s.KVH, rows = s.B * s.H * L;
  float* scores = static_cast<float*>(scratch);
  bf16* o = reinterpret_cast<bf16*>(static_cast<char*>(scratch) + scores_bytes(s));
  blas.set_stream(stream);
  gemm_strided_batched(blas, g * L, L, s.Dk, s.scale, {q, CUDA_R_16BF, s.Dk, g * L * s.Dk, false},
                       {k, CUDA_R_16BF, s.Dk, L * s.Dk, true}, scores, CUDA_R_32F, L, g * L * L, batch);
  causal_softmax(probs, L, scores, L, rows, L, L, 0, stream);
  gemm_strided_batched(blas, g * L, s.Dv, L, 1.0f, {probs, CUDA_R_16BF, L, g * L * L, false},
                       {v, CUDA_R_16BF, s.Dv, L * s.Dv, false}, o, CUDA_R_16BF, s.Dv, g * L * s.Dv, batch);
  permute_rows<false>(out, o, s, stream);
}

void causal_attention_backward(Blas& blas, bf16* dq, bf16* dk, bf16* dv, void* scratch, const bf16* dout,
                               const bf16* out, const bf16* probs, const bf16* q, const bf16* k,
                               const bf16* v, const AttentionShape& s, cudaStream_t stream) {
  check("causal_attention_backward", s);
  if (s.B == 0 || s.L == 0) return;
  const int64_t g = s.H / s.KVH, L = s.L, batch = s.B * s.KVH, rows = s.B * s.H * L;
  float* dp = static_cast<float*>(scratch);
  const bf16* ds = static_cast<const bf16*>(scratch);  // in place over dP, row stride 2L
  bf16* dout_hm = reinterpret_cast<bf16*>(static_cast<char*>(scratch) + scores_bytes(s));
  blas.set_stream(stream);
  permute_rows<true>(dout_hm, dout, s, stream);
  gemm_strided_batched(blas, g * L, L, s.Dv, 1.0f, {dout_hm, CUDA_R_16BF, s.Dv, g * L * s.Dv, false},
                       {v, CUDA_R_16BF, s.Dv, L * s.Dv, true}, dp, CUDA_R_32F, L, g * L * L, batch);
  if (L % 4 == 0 && aligned(probs, 8)) {
    softmax_backward_kernel<4>
        <<<row_blocks(rows), kRowsPerBlock * 32, 0, stream>>>(dp, probs, dout, out, rows, L, s.H, s.Dv);
  } else {
    softmax_backward_kernel<1>
        <<<row_blocks(rows), kRowsPerBlock * 32, 0, stream>>>(dp, probs, dout, out, rows, L, s.H, s.Dv);
  }
  R1_CUDA_LAUNCHED();
  const StridedOperand ds_op{ds, CUDA_R_16BF, 2 * L, g * L * 2 * L, false};
  gemm_strided_batched(blas, g * L, s.Dk, L, s.scale, ds_op, {k, CUDA_R_16BF, s.Dk, L * s.Dk, false}, dq,
                       CUDA_R_16BF, s.Dk, g * L * s.Dk, batch);
  StridedOperand ds_t = ds_op;
  ds_t.trans = true;
  gemm_strided_batched(blas, L, s.Dk, g * L, s.scale, ds_t, {q, CUDA_R_16BF, s.Dk, g * L * s.Dk, false}, dk,
                       CUDA_R_16BF, s.Dk, L * s.Dk, batch);
  gemm_strided_batched(blas, L, s.Dv, g * L, 1.0f, {probs, CUDA_R_16BF, L, g * L * L, true},
                       {dout_hm, CUDA_R_16BF, s.Dv, g * L * s.Dv, false}, dv, CUDA_R_16BF, s.Dv, L * s.Dv,
                       batch);
}

}  // namespace r1::cuda
