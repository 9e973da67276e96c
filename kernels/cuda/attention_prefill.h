#pragma once
// Flash attention (causal, GQA) over the paged KV cache for tiles of up to 64 consecutive query rows of
// one sequence: tensor-core (WMMA bf16) products Q·K^T and P·V per 64-key tile, online softmax in fp32,
// the score matrix never leaves shared memory. Used for prefill and for batches too large for the
// matrix-vector decode path. head_dim must be 16, 32, 64 or 128 (attention_paged serves the others).
#include "cuda_common.h"
#include "paged_kv.h"

namespace r1::cuda {

struct FlashTile {
  int32_t row0;    // first query row (index into q / out)
  int32_t n_rows;  // <= 64
  int32_t seq;     // whose block table the keys come from
  int32_t pos0;    // position of the first row; row i attends to keys 0..pos0+i
};

struct FlashArgs {
  const bf16* q = nullptr;  // [R, H, D]
  int32_t heads = 0;
  const FlashTile* tiles = nullptr;
  int32_t n_tiles = 0;
  const int32_t* tables = nullptr;  // [sequences, table_stride]
  int32_t table_stride = 0;
  float scale = 1.0f;
  int32_t layer = 0;
  KvLayout kv;
  bf16* out = nullptr;  // [R, H, D]
};

constexpr int kFlashTileRows = 64;

bool flash_supports(int32_t head_dim);
void attention_flash(const FlashArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
