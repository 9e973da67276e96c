#pragma once
// Causal softmax attention for training, B rows of L positions, with the probabilities kept for backward:
//   P[b, h] = softmax(scale · Q[b, h] K[b, h/g]^T, causal)   [B, H, L, L], zero above the diagonal
//   out[b*L + l, h*Dv : (h+1)*Dv] = (P[b, h] V[b, h/g])[l]      token-major, ready for the output projection
// q [B, H, L, Dk], k [B, KVH, L, Dk], v [B, KVH, L, Dv], g = H / KVH. fp32.
// Backward: dq, dk, dv (assigned; dk/dv sum over the query heads of a group) from dout [B*L, H*Dv], using
// the saved P and out; `scratch` holds B*H*L*L floats (dP, then dS).
#include <cstdint>

namespace r1::cpu {

struct AttentionShape {
  int64_t B = 0, L = 0, H = 0, KVH = 0, Dk = 0, Dv = 0;
  float scale = 1.0f;
};

void causal_attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                              const AttentionShape& s);
void causal_attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                               const float* out, const float* probs, const float* q, const float* k,
                               const float* v, const AttentionShape& s);

}  // namespace r1::cpu
