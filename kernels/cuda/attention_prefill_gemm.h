#pragma once
// Prefill attention of one sequence through cuBLAS: its keys and values are gathered from the paged cache
// into contiguous rows, then for each KV head S = scale Q K^T (one strided-batched GEMM over the group's
// query heads, which share K), a causal softmax in place, and O = P V written straight into the token-major
// output. Twice the FLOPs of a causal kernel (the masked half is computed), but at tensor-core GEMM speed;
// the scores of one group, [group, rows, keys] in fp32, live in a scratch planned with the runtime.
#include "gemm.h"
#include "paged_kv.h"

namespace r1::cuda {

struct PrefillGemmArgs {
  const bf16* q = nullptr;  // [T, heads, D], rows at positions pos0 .. pos0 + T - 1
  int64_t T = 0;
  int32_t heads = 0;
  int64_t pos0 = 0;                // keys 0 .. pos0 + T - 1 are in the cache (this chunk's included)
  const int32_t* table = nullptr;  // the sequence's block table (device)
  int32_t layer = 0;
  KvLayout kv;
  float scale = 1.0f;
  bf16* out = nullptr;  // [T, heads, D]
  void* scratch = nullptr;
};

// Scratch for T rows over at most max_keys keys.
size_t prefill_gemm_scratch_bytes(int64_t T, int64_t max_keys, int32_t heads, int32_t kv_heads,
                                  int32_t head_dim);

void attention_prefill_gemm(Blas& blas, const PrefillGemmArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
