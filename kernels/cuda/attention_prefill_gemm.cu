#include <stdexcept>

#include "attention_prefill_gemm.h"
#include "causal_attention.h"
#include "device_utils.cuh"

namespace r1::cuda {
namespace {

size_t align_up(size_t n) {
  return (n + 255) / 256 * 256;
}

size_t scores_bytes(int64_t T, int64_t keys, int32_t group) {
  return align_up(size_t(group) * size_t(T) * size_t(keys) * sizeof(float));
}

// keys and values [kv_heads, n_keys, D] from the paged cache, 16 bytes per thread.
__global__ void gather_kv_kernel(bf16* keys, bf16* values, const int32_t* table, KvLayout kv, int32_t layer,
                                 int64_t n_keys) {
  const int per_row = kv.head_dim / 8;
  const int64_t total = int64_t(kv.kv_heads) * n_keys * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % per_row, j = (i / per_row) % n_keys, h = i / per_row / n_keys;
    const int64_t off = ((h * kv.block_size) + j % kv.block_size) * kv.head_dim + c * 8;
    const int64_t block = table[j / kv.block_size];
    const int64_t dst = (h * n_keys + j) * kv.head_dim + c * 8;
    *reinterpret_cast<Bf16x8*>(keys + dst) = *reinterpret_cast<const Bf16x8*>(kv.k_block(layer, block) + off);
    *reinterpret_cast<Bf16x8*>(values + dst) =
        *reinterpret_cast<const Bf16x8*>(kv.v_block(layer, block) + off);
  }
}

}  // namespace

size_t prefill_gemm_scratch_bytes(int64_t T, int64_t max_keys, int32_t heads, int32_t kv_heads,
                                  int32_t head_dim) {
  return scores_bytes(T, max_keys, heads / kv_heads) +
         2 * align_up(size_t(kv_heads) * size_t(max_keys) * size_t(head_dim) * sizeof(bf16));
}

void attention_prefill_gemm(Blas& blas, const PrefillGemmArgs& a, cudaStream_t stream) {
  const int32_t D = a.kv.head_dim, KVH = a.kv.kv_heads;
  if (D % 8 || a.heads % KVH) throw std::invalid_argument("attention_prefill_gemm: unsupported head shape");
  if (a.T <= 0) return;
  const int64_t keys = a.pos0 + a.T, group = a.heads / KVH;
  float* scores = static_cast<float*>(a.scratch);
  bf16* k = reinterpret_cast<bf16*>(static_cast<char*>(a.scratch) + scores_bytes(a.T, keys, int32_t(group)));
  bf16* v = k + align_up(size_t(KVH) * size_t(keys) * size_t(D) * sizeof(bf16)) / sizeof(bf16);
  const int64_t work = int64_t(KVH) * keys * (D / 8);
  gather_kv_kernel<<<unsigned(std::min<int64_t>((work + 255) / 256, 4096)), 256, 0, stream>>>(
      k, v, a.table, a.kv, a.layer, keys);
  R1_CUDA_LAUNCHED();
  blas.set_stream(stream);
  const int64_t ldq = int64_t(a.heads) * D;
  for (int32_t g = 0; g < KVH; ++g) {
    const int64_t h0 = int64_t(g) * group;
    // S[j] = scale Q_{h0+j} K_g^T: the group's heads are D apart in every query row, and share K.
    gemm_strided_batched(blas, a.T, keys, D, a.scale, {a.q + h0 * D, CUDA_R_16BF, ldq, D, false},
                         {k + int64_t(g) * keys * D, CUDA_R_16BF, D, 0, true}, scores, CUDA_R_32F, keys,
                         a.T * keys, group);
    bf16* probs = reinterpret_cast<bf16*>(scores);
    causal_softmax(probs, 2 * keys, scores, keys, group * a.T, a.T, keys, a.pos0, stream);
    // O_{h0+j} = P_j V_g, written into the token-major output at the head's columns.
    gemm_strided_batched(blas, a.T, D, keys, 1.0f, {probs, CUDA_R_16BF, 2 * keys, 2 * a.T * keys, false},
                         {v + int64_t(g) * keys * D, CUDA_R_16BF, D, 0, false}, a.out + h0 * D, CUDA_R_16BF,
                         ldq, D, group);
  }
}

}  // namespace r1::cuda
