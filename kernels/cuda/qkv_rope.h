#pragma once
// After the fused QKV projection: bias, per-head q/k RMSNorm (Qwen3), rotary embedding of q and k, then q
// to its own buffer and k, v into their slots of the paged cache. One launch per layer.
#include "cuda_common.h"
#include "paged_kv.h"

namespace r1::cuda {

struct QkvRopeArgs {
  const bf16* qkv = nullptr;     // [T, (H + 2 KVH) * D]
  const bf16* bias = nullptr;    // [(H + 2 KVH) * D] or null
  const bf16* q_norm = nullptr;  // [D] or null
  const bf16* k_norm = nullptr;
  float eps = 1e-6f;
  const float* cos_sin = nullptr;        // [max_pos, rot_dim]: rot/2 cosines then rot/2 sines
  const int32_t* positions = nullptr;    // [T]
  const int32_t* slot_of_row = nullptr;  // [T] cache slot of each row
  int64_t T = 0;
  int32_t heads = 0, kv_heads = 0, head_dim = 0, rot_dim = 0;
  bool interleaved = false;
  int32_t layer = 0;
  KvLayout kv;
  bf16* q_out = nullptr;  // [T, H, D]
};

void qkv_rope(const QkvRopeArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
