#pragma once
// Attention over the paged KV cache for any set of query rows (decode steps, or prefill rows one by one):
// row r attends to keys 0..n_keys[r]-1 of sequence row_seq[r] (its block table). Split-K
// (flash-decoding): each block handles one row, one KV head with (up to 8 of) its query heads, and one
// range of 128 keys; a second kernel merges the ranges. fp32 softmax and accumulation, bf16 in and out;
// head_dim 8, 16, 32, 64, 128 or 256.
#include "cuda_common.h"
#include "paged_kv.h"

namespace r1::cuda {

struct AttentionArgs {
  const bf16* q = nullptr;  // [R, H, D]
  int64_t rows = 0;
  int32_t heads = 0;
  const int32_t* tables = nullptr;  // [sequences, table_stride] block ids
  int32_t table_stride = 0;
  const int32_t* row_seq = nullptr;  // [R] which sequence's table each row uses
  const int32_t* n_keys = nullptr;   // [R]
  int32_t max_keys = 0;              // bound on n_keys: sizes the split grid
  float scale = 1.0f;
  int32_t layer = 0;
  KvLayout kv;
  bf16* out = nullptr;       // [R, H, D]
  float* partial = nullptr;  // attention_partial_floats(...) floats of scratch
};

constexpr int kAttentionKeysPerSplit = 128;  // one round of 32 keys per warp

int32_t attention_splits(int32_t max_keys);
int64_t attention_partial_floats(int64_t rows, int32_t heads, int32_t head_dim, int32_t max_keys);
void attention_paged(const AttentionArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
