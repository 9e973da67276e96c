#pragma once
// The CUDA form of kernels/cpu/heads.h (same layouts and semantics): token-major projections <-> head-major
// [B, heads, L, D] with Qwen3 q/k RMSNorm and RoPE. Activations bf16; norm weights, rstd, cos_sin, k_pe and
// its gradient fp32 (k_pe is the fp32 output of the kv_a projection).
#include "cuda_common.h"
#include "kernels/cpu/heads.h"

namespace r1::cuda {

using cpu::HeadsShape;
using cpu::MlaDims;

void heads_forward(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd, const bf16* qkv, const float* q_norm,
                   const float* k_norm, float norm_eps, const float* cos_sin, const HeadsShape& s,
                   cudaStream_t stream);
void heads_backward(bf16* dqkv, float* dq_norm, float* dk_norm, const bf16* dq, const bf16* dk, const bf16* dv,
                    const bf16* qkv, const float* q_norm, const float* k_norm, const float* q_rstd,
                    const float* k_rstd, const float* cos_sin, const HeadsShape& s, cudaStream_t stream);

void mla_heads_forward(bf16* q, bf16* k, bf16* v, const bf16* q_in, const bf16* kv_in, const float* k_pe,
                       int64_t ld_pe, const float* cos_sin, const HeadsShape& s, const MlaDims& m,
                       cudaStream_t stream);
void mla_heads_backward(bf16* dq_in, bf16* dkv_in, float* dk_pe, int64_t ld_pe, const bf16* dq, const bf16* dk,
                        const bf16* dv, const float* cos_sin, const HeadsShape& s, const MlaDims& m,
                        cudaStream_t stream);

}  // namespace r1::cuda
