#pragma once
// Layout of the paged KV cache: one pool for all layers, fixed-size blocks of block_size tokens.
// pool[layer][k or v][block][kv_head][slot in block][head_dim], bf16. A token's place is its slot:
// block * block_size + offset; block tables map a sequence's positions to blocks.
#include <cstdint>

#include "cuda_common.h"

namespace r1::cuda {

struct KvLayout {
  bf16* pool = nullptr;
  int64_t num_blocks = 0;
  int32_t block_size = 16;
  int32_t kv_heads = 0;
  int32_t head_dim = 0;
  int32_t layers = 0;

  __host__ __device__ int64_t block_elems() const { return int64_t(kv_heads) * block_size * head_dim; }
  __host__ __device__ bf16* k_block(int layer, int64_t block) const {
    return pool + ((int64_t(layer) * 2 + 0) * num_blocks + block) * block_elems();
  }
  __host__ __device__ bf16* v_block(int layer, int64_t block) const {
    return pool + ((int64_t(layer) * 2 + 1) * num_blocks + block) * block_elems();
  }
  int64_t bytes() const { return int64_t(layers) * 2 * num_blocks * block_elems() * 2; }
};

}  // namespace r1::cuda
