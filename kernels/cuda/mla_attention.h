#pragma once
// Multi-head latent attention (DeepSeek-V2/V3, arXiv 2405.04434) over a paged latent cache, in its absorbed
// form. The cache keeps per token and layer only [RMSNorm(c_kv) | rope(k_pe)], latent = kv_lora + rope values
// in bf16: pool[layer][block][slot in block][latent]. A query arrives absorbed, [W_UK^T q_nope | rope(q_pe)]
// per head (latent wide); every head attends over the one cached row of each token (MQA with a latent-wide
// key), and its output is the softmax-weighted c_kv, the first kv_lora values of those rows, which W_UV then
// takes to the head's value width. Inference only (training runs the expanded form).
#include "gemm.h"

namespace r1::cuda {

struct MlaCache {
  bf16* pool = nullptr;
  int64_t num_blocks = 0;
  int32_t block_size = 16;
  int32_t latent = 0;  // kv_lora + rope
  int32_t layers = 0;

  __host__ __device__ int64_t block_elems() const { return int64_t(block_size) * latent; }
  __host__ __device__ bf16* block(int layer, int64_t b) const {
    return pool + (int64_t(layer) * num_blocks + b) * block_elems();
  }
  __host__ __device__ bf16* row(int layer, int64_t slot) const {
    return pool + (int64_t(layer) * num_blocks * block_size + slot) * latent;
  }
  int64_t bytes() const { return int64_t(layers) * num_blocks * block_elems() * 2; }
};

// Widest latent and c_kv the kernels take (DeepSeek-V2/V3: 576 and 512).
constexpr int kMlaMaxLatent = 640;
constexpr int kMlaMaxLora = 512;

// Per row t: the cache slot gets [RMSNorm(kv_a[t, :lora]) * norm_w | rope(kv_a[t, lora:])] and every head's
// q_lat[t, h, lora:] gets rope(q[t, h, nope:]) (the absorbed half, q_lat[t, h, :lora], comes from a GEMM).
struct MlaRopeCacheArgs {
  const float* kv_a = nullptr;   // [T, lora + rope], the kv_a projection
  const bf16* norm_w = nullptr;  // [lora]
  float eps = 1e-6f;
  const bf16* q = nullptr;         // [T, heads, nope + rope]
  bf16* q_lat = nullptr;           // [T, heads, lora + rope]
  const float* cos_sin = nullptr;  // [positions, rope]: cos then sin
  const int32_t* positions = nullptr;
  const int32_t* slot_of_row = nullptr;
  int64_t T = 0;
  int32_t heads = 0, nope = 0, lora = 0, rope = 0;
  bool interleaved = true;  // rope on adjacent pairs (DeepSeek) or on halves
  int32_t layer = 0;
  MlaCache cache;
};
void mla_rope_and_cache(const MlaRopeCacheArgs& a, cudaStream_t stream);

// Split-K attention of single rows (decode): each row reads its sequence's first n_keys[row] cached rows.
struct MlaDecodeArgs {
  const bf16* q_lat = nullptr;  // [rows, heads, latent]
  int64_t rows = 0;
  int32_t heads = 0;
  const int32_t* tables = nullptr;  // [sequences, table_stride]
  int32_t table_stride = 0;
  const int32_t* row_seq = nullptr;
  const int32_t* n_keys = nullptr;
  int32_t max_keys = 0;  // bounds every row's n_keys (sizes the grid)
  float scale = 1.0f;
  int32_t lora = 0;
  int32_t layer = 0;
  MlaCache cache;
  bf16* out = nullptr;  // [rows, heads, lora]
  float* partial = nullptr;
};
int64_t mla_decode_partial_floats(int64_t rows, int32_t heads, int32_t lora, int32_t max_keys);
void mla_attention_decode(const MlaDecodeArgs& a, cudaStream_t stream);

// Attention of one sequence's T consecutive rows through cuBLAS: its latent rows gathered contiguous, then
// per group of heads S = scale Q K^T, a causal softmax, and O = P C (C the rows' first lora values).
struct MlaPrefillArgs {
  const bf16* q_lat = nullptr;  // [T, heads, latent]
  int64_t T = 0;
  int32_t heads = 0;
  int64_t pos0 = 0;  // keys 0 .. pos0 + T - 1 are cached (this chunk's included)
  const int32_t* table = nullptr;
  float scale = 1.0f;
  int32_t lora = 0;
  int32_t layer = 0;
  MlaCache cache;
  bf16* out = nullptr;  // [T, heads, lora]
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
};
// The least scratch for T rows over max_keys keys: the gathered rows and one head's scores.
size_t mla_prefill_min_scratch_bytes(int64_t T, int64_t max_keys, int32_t latent);
void mla_attention_prefill(Blas& blas, const MlaPrefillArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
