#include <algorithm>
#include <stdexcept>
#include <string>

#include "causal_attention.h"
#include "device_utils.cuh"
#include "mla_attention.h"

namespace r1::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kDecodeWarps = 4;    // heads per block: one warp each
constexpr int kDecodeTile = 32;    // cached rows staged in shared memory at a time
constexpr int kMaxSplits = 16;     // splits of a row's keys, at most
constexpr int kMinSplitKeys = 16;  // keys per split, at least (a split per 16 keys up to kMaxSplits)
constexpr int kQPerLane = kMlaMaxLatent / kWarp;
constexpr int kAccPerLane = kMlaMaxLora / kWarp;
constexpr float kLog2e = 1.4426950408889634f;

size_t align_up(size_t n) {
  return (n + 255) / 256 * 256;
}

// The splits row keys are cut into when the grid has `grid_splits`, and the keys each split takes: short
// contexts still spread over several blocks, long ones over all of them.
__host__ __device__ __forceinline__ int row_splits(int n_keys, int grid_splits) {
  const int want = (n_keys + kMinSplitKeys - 1) / kMinSplitKeys;
  return want < 1 ? 1 : want > grid_splits ? grid_splits : want;
}

__device__ __forceinline__ void rotate(float x0, float x1, float c, float s, float& y0, float& y1) {
  y0 = x0 * c - x1 * s;
  y1 = x1 * c + x0 * s;
}

__global__ void rope_and_cache_kernel(MlaRopeCacheArgs a) {
  const int64_t t = blockIdx.x;
  const float* kv = a.kv_a + t * (a.lora + a.rope);
  float ss = 0.0f;
  for (int i = threadIdx.x; i < a.lora; i += blockDim.x) ss += kv[i] * kv[i];
  const float rstd = rsqrtf(block_sum(ss) / float(a.lora) + a.eps);
  bf16* dst = a.cache.row(a.layer, a.slot_of_row[t]);
  for (int i = threadIdx.x; i < a.lora; i += blockDim.x)
    dst[i] = __float2bfloat16_rn(kv[i] * rstd * __bfloat162float(a.norm_w[i]));
  const int half = a.rope / 2;
  const float* cs = a.cos_sin + int64_t(a.positions[t]) * a.rope;
  // Pair i of the shared key (head -1) and of every query head.
  for (int u = threadIdx.x; u < (a.heads + 1) * half; u += blockDim.x) {
    const int head = u / half - 1, i = u % half;
    int i0, i1;
    rope_pair(i, half, a.interleaved, i0, i1);
    float y0, y1;
    if (head < 0) {
      rotate(kv[a.lora + i0], kv[a.lora + i1], cs[i], cs[half + i], y0, y1);
      dst[a.lora + i0] = __float2bfloat16_rn(y0);
      dst[a.lora + i1] = __float2bfloat16_rn(y1);
    } else {
      const bf16* q = a.q + (t * a.heads + head) * (a.nope + a.rope) + a.nope;
      rotate(__bfloat162float(q[i0]), __bfloat162float(q[i1]), cs[i], cs[half + i], y0, y1);
      bf16* out = a.q_lat + (t * a.heads + head) * (a.lora + a.rope) + a.lora;
      out[i0] = __float2bfloat16_rn(y0);
      out[i1] = __float2bfloat16_rn(y1);
    }
  }
}

// One row, kDecodeWarps heads, one split of its keys: an online softmax per warp over the split's cached
// rows, staged kDecodeTile at a time in shared memory; writes the split's max, sum and unnormalised c_kv sum.
__global__ void decode_kernel(MlaDecodeArgs a, int splits) {
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* tile = reinterpret_cast<bf16*>(smem);
  const int64_t row = blockIdx.x;
  const int split = blockIdx.z, warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int h = blockIdx.y * kDecodeWarps + warp;
  const int n_keys = a.n_keys[row];
  const int used = row_splits(n_keys, splits), per_split = (n_keys + used - 1) / used;
  const int k0 = split * per_split, k1 = min(n_keys, k0 + per_split);
  if (split >= used || k0 >= k1) return;  // the same for every thread of the block
  const bool active = h < a.heads;
  const int latent = a.cache.latent, lora = a.lora, bs = a.cache.block_size;
  float q[kQPerLane];
  const bf16* qrow = a.q_lat + (row * a.heads + (active ? h : 0)) * latent;
#pragma unroll
  for (int u = 0; u < kQPerLane; ++u) {
    const int i = lane + kWarp * u;
    q[u] = active && i < latent ? __bfloat162float(qrow[i]) * a.scale * kLog2e : 0.0f;
  }
  float m = -INFINITY, l = 0.0f, acc[kAccPerLane];
#pragma unroll
  for (int u = 0; u < kAccPerLane; ++u) acc[u] = 0.0f;
  const int32_t* table = a.tables + int64_t(a.row_seq[row]) * a.table_stride;
  const int words = latent / 2;
  for (int j0 = k0; j0 < k1; j0 += kDecodeTile) {
    const int nj = min(kDecodeTile, k1 - j0);
    __syncthreads();
    for (int i = threadIdx.x; i < nj * words; i += blockDim.x) {
      const int j = i / words, w = i % words, key = j0 + j;
      const int64_t slot = int64_t(table[key / bs]) * bs + key % bs;
      reinterpret_cast<uint32_t*>(tile)[j * words + w] =
          reinterpret_cast<const uint32_t*>(a.cache.row(a.layer, slot))[w];
    }
    __syncthreads();
    if (!active) continue;
    for (int j = 0; j < nj; ++j) {
      const bf16* k = tile + j * latent;
      float s = 0.0f;
#pragma unroll
      for (int u = 0; u < kQPerLane; ++u) {
        const int i = lane + kWarp * u;
        if (i < latent) s += q[u] * __bfloat162float(k[i]);
      }
      s = warp_sum(s);
      const float m_new = fmaxf(m, s), corr = exp2f(m - m_new), p = exp2f(s - m_new);
      l = l * corr + p;
#pragma unroll
      for (int u = 0; u < kAccPerLane; ++u) {
        const int i = lane + kWarp * u;
        if (i < lora) acc[u] = acc[u] * corr + p * __bfloat162float(k[i]);
      }
      m = m_new;
    }
  }
  if (!active) return;
  float* part = a.partial + ((row * a.heads + h) * splits + split) * (lora + 2);
  if (lane == 0) part[0] = m, part[1] = l;
#pragma unroll
  for (int u = 0; u < kAccPerLane; ++u) {
    const int i = lane + kWarp * u;
    if (i < lora) part[2 + i] = acc[u];
  }
}

__global__ void combine_kernel(const float* partial, const int32_t* n_keys, bf16* out, int heads, int lora,
                               int splits) {
  const int64_t rh = blockIdx.x;
  // Every one of the row's splits has keys: with s = row_splits(n) splits of ceil(n / s), (s - 1) ceil(n / s)
  // < n, as s <= ceil(n / 16) and s <= 16.
  const int used = row_splits(n_keys[rh / heads], splits);
  merge_key_ranges<true>(partial + rh * splits * (lora + 2), used, lora, out + rh * lora);
}

__global__ void gather_kernel(bf16* rows, const int32_t* table, MlaCache cache, int32_t layer, int64_t keys) {
  const int words = cache.latent / 2, bs = cache.block_size;
  const int64_t total = keys * words;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i / words, w = i % words;
    const int64_t slot = int64_t(table[j / bs]) * bs + j % bs;
    reinterpret_cast<uint32_t*>(rows)[i] = reinterpret_cast<const uint32_t*>(cache.row(layer, slot))[w];
  }
}

int splits_for(int32_t max_keys) {
  return row_splits(max_keys, kMaxSplits);
}

void check_dims(const char* what, int32_t latent, int32_t lora) {
  if (latent > kMlaMaxLatent || lora > kMlaMaxLora || latent % 2 || lora % 2 || lora >= latent)
    throw std::invalid_argument(std::string(what) + ": latent width " + std::to_string(latent) +
                                " and kv_lora " + std::to_string(lora) + " must be even and at most " +
                                std::to_string(kMlaMaxLatent) + " and " + std::to_string(kMlaMaxLora));
}

}  // namespace

void mla_rope_and_cache(const MlaRopeCacheArgs& a, cudaStream_t stream) {
  check_dims("mla_rope_and_cache", a.lora + a.rope, a.lora);
  if (a.T <= 0) return;
  rope_and_cache_kernel<<<unsigned(a.T), 128, 0, stream>>>(a);
  R1_CUDA_LAUNCHED();
}

int64_t mla_decode_partial_floats(int64_t rows, int32_t heads, int32_t lora, int32_t max_keys) {
  return rows * heads * splits_for(max_keys) * (lora + 2);
}

void mla_attention_decode(const MlaDecodeArgs& a, cudaStream_t stream) {
  check_dims("mla_attention_decode", a.cache.latent, a.lora);
  if (a.rows <= 0) return;
  const int splits = splits_for(a.max_keys);
  const dim3 grid(unsigned(a.rows), unsigned((a.heads + kDecodeWarps - 1) / kDecodeWarps), unsigned(splits));
  const size_t smem = size_t(kDecodeTile) * a.cache.latent * sizeof(bf16);
  decode_kernel<<<grid, kDecodeWarps * kWarp, smem, stream>>>(a, splits);
  R1_CUDA_LAUNCHED();
  combine_kernel<<<unsigned(a.rows * a.heads), 128, 0, stream>>>(a.partial, a.n_keys, a.out, a.heads, a.lora,
                                                                 splits);
  R1_CUDA_LAUNCHED();
}

size_t mla_prefill_min_scratch_bytes(int64_t T, int64_t max_keys, int32_t latent) {
  return align_up(size_t(max_keys) * latent * sizeof(bf16)) + align_up(size_t(T) * max_keys * sizeof(float));
}

void mla_attention_prefill(Blas& blas, const MlaPrefillArgs& a, cudaStream_t stream) {
  const int32_t latent = a.cache.latent;
  check_dims("mla_attention_prefill", latent, a.lora);
  if (a.T <= 0) return;
  const int64_t keys = a.pos0 + a.T;
  const size_t rows_bytes = align_up(size_t(keys) * latent * sizeof(bf16));
  const size_t per_head = size_t(a.T) * keys * sizeof(float);
  if (a.scratch_bytes < rows_bytes + per_head)
    throw std::invalid_argument("mla_attention_prefill: scratch of " + std::to_string(a.scratch_bytes) +
                                " bytes is too small for " + std::to_string(a.T) + " rows over " +
                                std::to_string(keys) + " keys");
  bf16* rows = static_cast<bf16*>(a.scratch);
  float* scores = reinterpret_cast<float*>(static_cast<char*>(a.scratch) + rows_bytes);
  const int64_t group = std::min<int64_t>(a.heads, int64_t((a.scratch_bytes - rows_bytes) / per_head));
  const int64_t work = keys * (latent / 2);
  gather_kernel<<<unsigned(std::min<int64_t>((work + 255) / 256, 4096)), 256, 0, stream>>>(
      rows, a.table, a.cache, a.layer, keys);
  R1_CUDA_LAUNCHED();
  blas.set_stream(stream);
  const int64_t ldq = int64_t(a.heads) * latent;
  for (int64_t h0 = 0; h0 < a.heads; h0 += group) {
    const int64_t n = std::min<int64_t>(group, a.heads - h0);
    // S_h = scale Q_h R^T for the group's heads, which all attend over the same latent rows R.
    gemm_strided_batched(blas, a.T, keys, latent, a.scale,
                         {a.q_lat + h0 * latent, CUDA_R_16BF, ldq, latent, false},
                         {rows, CUDA_R_16BF, latent, 0, true}, scores, CUDA_R_32F, keys, a.T * keys, n);
    bf16* probs = reinterpret_cast<bf16*>(scores);
    causal_softmax(probs, 2 * keys, scores, keys, n * a.T, a.T, keys, a.pos0, stream);
    // O_h = P_h C, C the rows' first lora values, into the token-major output at the head's columns.
    gemm_strided_batched(blas, a.T, a.lora, keys, 1.0f, {probs, CUDA_R_16BF, 2 * keys, 2 * a.T * keys, false},
                         {rows, CUDA_R_16BF, latent, 0, false}, a.out + h0 * a.lora, CUDA_R_16BF,
                         int64_t(a.heads) * a.lora, a.lora, n);
  }
}

}  // namespace r1::cuda
