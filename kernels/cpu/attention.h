#pragma once
// Causal scaled-dot-product attention for token rows that may belong to different sequences.
// q[T, H, Dk] -> out[T, H, Dv]. Row t attends to keys 0..rows[t].n_keys-1 of its own sequence, stored at
// rows[t].k / rows[t].v with kv_stride floats between positions, KVH heads of Dk (keys) and Dv (values)
// each; query head h reads kv head h / (H / KVH) (grouped-query attention). Online softmax, fp32.
#include <cstdint>

namespace r1::cpu {

struct AttentionRow {
  const float* k;
  const float* v;
  int32_t n_keys;
};

constexpr int64_t kMaxAttentionDim = 1024;

void attention_forward(float* out, const float* q, const AttentionRow* rows, int64_t T, int64_t H,
                       int64_t KVH, int64_t Dk, int64_t Dv, int64_t k_stride, int64_t v_stride, float scale);

}  // namespace r1::cpu
