#pragma once
// Device side of qkv_rope.h shared by the head-split kernel and the fused decode attention
// (attention_decode.cu): the widest head, and where a new k or v head goes in the paged cache.
#include "qkv_rope.h"

namespace r1::cuda {

constexpr int kRopeMaxHeadDim = 256;

// Where head h (a k or v head) of the row whose cache slot is `slot` goes in the paged cache.
__device__ inline bf16* rope_cache_slot_dst(const QkvRopeArgs& a, int slot, int h) {
  const bool is_k = h < a.heads + a.kv_heads;
  const int64_t block = slot / a.kv.block_size, off = slot % a.kv.block_size;
  const int kvh = is_k ? h - a.heads : h - a.heads - a.kv_heads;
  bf16* base = is_k ? a.kv.k_block(a.layer, block) : a.kv.v_block(a.layer, block);
  return base + (int64_t(kvh) * a.kv.block_size + off) * a.head_dim;
}

// Where head h (a k or v head) of row t goes in the paged cache.
__device__ inline bf16* rope_cache_dst(const QkvRopeArgs& a, int64_t t, int h) {
  return rope_cache_slot_dst(a, a.slot_of_row[t], h);
}

}  // namespace r1::cuda
