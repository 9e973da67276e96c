#pragma once
// The CUDA form of kernels/cpu/token_loss.h: fp32 logits in, fp32 logp/entropy, bf16 dlogits out (the
// input of the LM head's backward GEMMs). g_entropy and entropy may be null. The forward can save each row's
// log-sum-exp (lse); given to the backward with the saved entropy, it reads the logits once instead of twice.
#include "cuda_common.h"

namespace r1::cuda {

void token_logprob_forward(float* logp, float* entropy, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t V, cudaStream_t stream, float* lse = nullptr);
void token_logprob_backward(bf16* dlogits, const float* logits, const int32_t* targets, const float* g_logp,
                            const float* g_entropy, int64_t rows, int64_t V, cudaStream_t stream,
                            const float* lse = nullptr, const float* entropy = nullptr);

}  // namespace r1::cuda
