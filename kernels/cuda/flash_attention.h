#pragma once
// Causal attention for training without the L x L probabilities (FlashAttention-2, arXiv 2307.08691):
// the forward keeps one log-sum-exp per query row, and the backward recomputes each tile's probabilities
// from it. Tensor-core (mma.sync bf16, fp32 accumulation) tiles of 64 queries x 64 keys in shared memory.
// Shapes as kernels/cpu/causal_attention.h: q [B, H, L, D], k and v [B, KVH, L, D] head-major; out and dout
// token-major [B*L, H*D]; dq, dk, dv head-major and assigned (dk, dv sum over the group's query heads).
// Takes Dk == Dv in {64, 128}; causal_attention.h serves the other shapes.
#include "cuda_common.h"
#include "kernels/cpu/causal_attention.h"

namespace r1::cuda {

bool flash_attention_supports(const cpu::AttentionShape& s);

// lse [B, H, L] fp32: log Σ_j exp(scale q·k_j) of each query row.
void flash_attention_forward(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                             const cpu::AttentionShape& s, cudaStream_t stream);

// scratch: flash_attention_scratch_bytes(s) (the rows' Σ_d dO·O, fp32 dk/dv per query head, fp32 dq sums).
size_t flash_attention_scratch_bytes(const cpu::AttentionShape& s);
void flash_attention_backward(bf16* dq, bf16* dk, bf16* dv, void* scratch, const bf16* dout, const bf16* out,
                              const float* lse, const bf16* q, const bf16* k, const bf16* v,
                              const cpu::AttentionShape& s, cudaStream_t stream);

}  // namespace r1::cuda
