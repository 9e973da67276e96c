#pragma once
// Decode attention fused with the head split. For rows that are each the single new token of a distinct
// sequence (its key is that sequence's last, n_keys - 1), one kernel forms q and the new k and v from the
// QKV projection (bias, q/k norm and rotary, as qkv_rope.h), writes k and v into the paged cache and
// attends over it. Split-K over ranges of kDecodeSplitKeys keys: a block serves one row, one KV head with
// all its query heads (or, when that makes few blocks, one query head), and one range; the last block of a
// (row, KV head) to finish merges the ranges, so there is no second kernel. With one query head a block and
// at most 8 ranges (a batch-1 step up to 512 keys), the ranges of a head form a thread-block cluster and
// the first merges them from its shared memory, where the others store their partials. The cached keys are
// requested before the kernel waits for the projection: they were written by earlier steps, which the step's
// input copy orders before this kernel.
#include "paged_kv.h"
#include "qkv_rope.h"

namespace r1::cuda {

constexpr int kDecodeSplitKeys = 64;
// A row's ranges merge in a thread-block cluster when there are at most this many (the most blocks a portable
// cluster holds) and a block serves one query head; otherwise through global memory.
constexpr int kDecodeClusterRanges = 8;

struct DecodeAttentionArgs {
  QkvRopeArgs rope;  // the projection, positions, cache slots, layer and cache; rope.T is the row count
  const int32_t* tables = nullptr;  // [sequences, table_stride] block ids
  int32_t table_stride = 0;
  const int32_t* row_seq = nullptr;  // [R]
  const int32_t* n_keys = nullptr;   // [R]: keys of the row's sequence, its new one included
  int32_t max_keys = 0;              // bound on n_keys: sizes the split grid
  float scale = 1.0f;
  bf16* out = nullptr;       // [R, H, D]
  float* partial = nullptr;  // attention_decode_partial_floats(...) floats
  int32_t* counters =
      nullptr;  // attention_decode_counters(...) ints, zero at first; every launch leaves them zero
};

// head_dim a multiple of 16 up to 256, query heads a multiple of the KV heads, at most 16 per KV head, and
// the merge state for max_keys within shared memory (about 100 k keys at 16 heads per KV head).
bool attention_decode_supports(int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t max_keys);
int64_t attention_decode_partial_floats(int64_t rows, int32_t heads, int32_t head_dim, int32_t max_keys);
int64_t attention_decode_counters(int64_t rows, int32_t heads);
void attention_decode(const DecodeAttentionArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
