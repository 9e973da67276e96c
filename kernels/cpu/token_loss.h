#pragma once
// Per-token log-probability and entropy of the chosen tokens from a chunk of logits, and the gradient back
// into the logits for any loss that is a per-token function of them (SFT cross-entropy, GRPO's surrogate,
// an entropy bonus): with p = softmax(z),
//   logp[r]    = z[r, y_r] - logsumexp(z[r])
//   entropy[r] = -Σ_j p_j log p_j
//   dz[r, j]   = g_logp[r] · ([j == y_r] - p_j) + g_entropy[r] · (-p_j (log p_j + entropy[r]))
// where g_logp = dLoss/dlogp and g_entropy = dLoss/dentropy. fp32, rows of V logits. entropy and g_entropy
// may be null (not computed / zero). dz may alias z.
#include <cstdint>

namespace r1::cpu {

void token_logprob_forward(float* logp, float* entropy, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t V);
void token_logprob_backward(float* dlogits, const float* logits, const int32_t* targets, const float* g_logp,
                            const float* g_entropy, int64_t rows, int64_t V);

}  // namespace r1::cpu
