#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "token_loss.h"

namespace r1::cuda {
namespace {

// One pass over a row keeps, per thread, the running max m, s = Σ e^(z-m) and u = Σ e^(z-m) (z-m); then
// logsumexp = m + log s and the entropy -Σ p log p = log s - u/s, with no second pass and no overflow.
struct RowStats {
  float m, s, u;
};

// e^(from - to) for rescaling, where both maxima may be -inf (nothing seen yet).
__device__ __forceinline__ float rescale(float from, float to) {
  return from == to ? 1.0f : __expf(from - to);
}

__device__ __forceinline__ RowStats merge(const RowStats& a, const RowStats& b) {
  const float m = fmaxf(a.m, b.m), ca = rescale(a.m, m), cb = rescale(b.m, m);
  // Σ e^(z-m)(z-m) = c (u + (m_old - m) s) when the reference max moves from m_old to m.
  const float ua = a.s > 0 ? ca * (a.u + (a.m - m) * a.s) : 0.0f;
  const float ub = b.s > 0 ? cb * (b.u + (b.m - m) * b.s) : 0.0f;
  return {m, a.s * ca + b.s * cb, ua + ub};
}

// The statistics of row z, returned to every thread of the block.
template <int VEC>
__device__ RowStats row_stats(const float* z, int64_t V) {
  RowStats st{-INFINITY, 0.0f, 0.0f};
  for (int64_t j = threadIdx.x * int64_t(VEC); j < V; j += int64_t(blockDim.x) * VEC) {
    float x[VEC];
    load_vec<VEC>(z + j, x);
    float cm = x[0];
#pragma unroll
    for (int k = 1; k < VEC; ++k) cm = fmaxf(cm, x[k]);
    if (cm > st.m) {
      st = merge(st, {cm, 0.0f, 0.0f});
    }
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      // A masked (-inf) logit adds nothing, even while the running max is still -inf.
      if (x[k] == -INFINITY) continue;
      const float e = __expf(x[k] - st.m);
      st.s += e;
      st.u += e * (x[k] - st.m);
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    st = merge(st, {__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o),
                    __shfl_xor_sync(0xffffffffu, st.u, o)});
  __shared__ RowStats part[32];
  __shared__ RowStats total;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) part[warp] = st;
  __syncthreads();
  if (warp == 0) {
    st = lane < int(blockDim.x >> 5) ? part[lane] : RowStats{-INFINITY, 0.0f, 0.0f};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      st = merge(st, {__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o),
                      __shfl_xor_sync(0xffffffffu, st.u, o)});
    if (lane == 0) total = st;
  }
  __syncthreads();
  return total;
}

// A block per row.
template <int VEC>
__global__ void token_logprob_forward_kernel(float* logp, float* entropy, float* lse_out, const float* logits,
                                             const int32_t* targets, int64_t V) {
  const int64_t r = blockIdx.x;
  const float* z = logits + r * V;
  const RowStats st = row_stats<VEC>(z, V);
  if (threadIdx.x == 0) {
    const float log_s = logf(st.s);
    const int32_t y = targets[r];
    // A target outside the vocabulary gives NaN, which the loss cannot mistake for a probability.
    logp[r] = y >= 0 && y < V ? z[y] - (st.m + log_s) : NAN;
    if (entropy) entropy[r] = log_s - st.u / st.s;
    if (lse_out) lse_out[r] = st.m + log_s;
  }
}

// With the forward's saved log-sum-exp (and entropy) the row is read once; without, its statistics are
// recomputed first.
template <int VEC>
__global__ void token_logprob_backward_kernel(bf16* dlogits, const float* logits, const int32_t* targets,
                                              const float* g_logp, const float* g_entropy, int64_t V,
                                              const float* saved_lse, const float* saved_entropy) {
  const int64_t r = blockIdx.x;
  const float* z = logits + r * V;
  float lse, ent = 0.0f;
  if (saved_lse) {
    lse = saved_lse[r];
    if (g_entropy) ent = saved_entropy[r];
  } else {
    const RowStats st = row_stats<VEC>(z, V);
    const float log_s = logf(st.s);
    lse = st.m + log_s, ent = log_s - st.u / st.s;
  }
  const float g = g_logp[r], ge = g_entropy ? g_entropy[r] : 0.0f;
  const int64_t y = targets[r];
  bf16* dz = dlogits + r * V;
  for (int64_t j = threadIdx.x * int64_t(VEC); j < V; j += int64_t(blockDim.x) * VEC) {
    float x[VEC];
    load_vec<VEC>(z + j, x);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float lp = x[k] - lse, p = __expf(lp);
      const float d_ent = p > 0 ? -p * (lp + ent) : 0.0f;
      x[k] = g * (float(j + k == y) - p) + ge * d_ent;
    }
    if constexpr (VEC == 4) {
      const __nv_bfloat162 a = __floats2bfloat162_rn(x[0], x[1]), b = __floats2bfloat162_rn(x[2], x[3]);
      uint2 raw;
      raw.x = *reinterpret_cast<const uint32_t*>(&a);
      raw.y = *reinterpret_cast<const uint32_t*>(&b);
      *reinterpret_cast<uint2*>(dz + j) = raw;
    } else {
      dz[j] = __float2bfloat16_rn(x[0]);
    }
  }
}

int threads_for(int64_t V) {
  return V >= 32768 ? 1024 : 256;
}

void check(const char* op, int64_t rows, int64_t V) {
  if (rows < 0 || V <= 0 || rows > INT32_MAX)
    throw std::invalid_argument(std::string(op) + ": needs V > 0 and 0 <= rows < 2^31");
}

}  // namespace

void token_logprob_forward(float* logp, float* entropy, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t V, cudaStream_t stream, float* lse) {
  check("token_logprob_forward", rows, V);
  if (rows == 0) return;
  if (V % 4 == 0 && aligned(logits, 16)) {
    token_logprob_forward_kernel<4>
        <<<unsigned(rows), threads_for(V), 0, stream>>>(logp, entropy, lse, logits, targets, V);
  } else {
    token_logprob_forward_kernel<1>
        <<<unsigned(rows), threads_for(V), 0, stream>>>(logp, entropy, lse, logits, targets, V);
  }
  R1_CUDA_LAUNCHED();
}

void token_logprob_backward(bf16* dlogits, const float* logits, const int32_t* targets, const float* g_logp,
                            const float* g_entropy, int64_t rows, int64_t V, cudaStream_t stream,
                            const float* lse, const float* entropy) {
  check("token_logprob_backward", rows, V);
  if (lse && g_entropy && !entropy)
    throw std::invalid_argument(
        "token_logprob_backward: a saved lse with an entropy gradient needs the saved entropy");
  if (rows == 0) return;
  if (V % 4 == 0 && aligned(logits, 16) && aligned(dlogits, 8)) {
    token_logprob_backward_kernel<4><<<unsigned(rows), threads_for(V), 0, stream>>>(
        dlogits, logits, targets, g_logp, g_entropy, V, lse, entropy);
  } else {
    token_logprob_backward_kernel<1><<<unsigned(rows), threads_for(V), 0, stream>>>(
        dlogits, logits, targets, g_logp, g_entropy, V, lse, entropy);
  }
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
