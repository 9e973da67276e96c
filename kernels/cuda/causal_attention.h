#pragma once
// The CUDA form of kernels/cpu/causal_attention.h: scores and products through cuBLAS strided-batched GEMMs
// (a group's query heads are adjacent, so each product is one call over the B x KVH groups), softmax and its
// backward in kernels. q, k, v, probs, out and the
// gradients bf16; scores and dP in fp32 scratch of causal_attention_scratch_bytes(s). dk and dv sum over
// the group in fp32 before rounding.
#include "gemm.h"
#include "kernels/cpu/causal_attention.h"

namespace r1::cuda {

using cpu::AttentionShape;

size_t causal_attention_scratch_bytes(const AttentionShape& s);

// Softmax of each fp32 score row r over keys 0..key_offset + r % period (later columns up to `cols` get 0),
// written as bf16 with row stride ldp; probs may alias scores when ldp = 2 * lds (bf16 over the front half of
// every fp32 row).
void causal_softmax(bf16* probs, int64_t ldp, const float* scores, int64_t lds, int64_t rows, int64_t period,
                    int64_t cols, int64_t key_offset, cudaStream_t stream);
void causal_attention_forward(Blas& blas, bf16* out, bf16* probs, const bf16* q, const bf16* k, const bf16* v,
                              void* scratch, const AttentionShape& s, cudaStream_t stream);
void causal_attention_backward(Blas& blas, bf16* dq, bf16* dk, bf16* dv, void* scratch, const bf16* dout,
                               const bf16* out, const bf16* probs, const bf16* q, const bf16* k,
                               const bf16* v, const AttentionShape& s, cudaStream_t stream);

}  // namespace r1::cuda
