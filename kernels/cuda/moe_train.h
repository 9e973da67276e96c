#pragma once
// The CUDA form of kernels/cpu/moe_train.h: the same layouts (slots, expert blocks ordered by expert then
// token, offsets, row_token, slot_row), the same selection rules and tie-breaking as kernels/cpu/moe.h.
// Router logits, scores and weights are fp32; routed rows are bf16; combine adds into the fp32 residual
// stream. Every op is deterministic: the dispatch is a stable counting sort and each backward gathers through
// slot_row.
#include "cuda_common.h"
#include "kernels/cpu/moe.h"

namespace r1::cuda {

using cpu::RouterConfig;  // selection_bias, when set, points to device memory

void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                        const RouterConfig& cfg, cudaStream_t stream);
// dlogits (bf16, the router GEMM's input gradient) from fp32 dweights.
void moe_router_backward(bf16* dlogits, const float* dweights, const int32_t* expert_ids, const float* scores,
                         int64_t T, const RouterConfig& cfg, cudaStream_t stream);

// Scratch the dispatch needs; never more than 2 * T * top_k + n_experts.
int64_t moe_dispatch_scratch_ints(int64_t T, int64_t top_k, int64_t n_experts);
void moe_dispatch_forward(bf16* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row, int32_t* scratch,
                          int64_t scratch_ints, const bf16* x, const int32_t* expert_ids, int64_t T,
                          int64_t top_k, int64_t n_experts, int64_t dim, cudaStream_t stream);
// dx (fp32, assigned) = Σ over a token's slots of dxe.
void moe_dispatch_backward(float* dx, const bf16* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                           int64_t dim, cudaStream_t stream);

void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                         int64_t T, int64_t top_k, int64_t dim, cudaStream_t stream);
void moe_combine_backward(bf16* dye, float* dweights, const float* dy, const float* ye, const float* weights,
                          const int32_t* slot_row, int64_t T, int64_t top_k, int64_t dim,
                          cudaStream_t stream);

}  // namespace r1::cuda
