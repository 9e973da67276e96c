#pragma once
// Between the projections (token-major rows) and attention (head-major [B, heads, L, D]) for training on
// B rows of L positions (token t = b * L + l is at position l). Forward applies Qwen3's per-head q/k RMSNorm
// (optional) and RoPE; backward inverts the rotation, backpropagates the norm and scatters back.
// cos_sin holds, per position, rot_dim/2 cosines then rot_dim/2 sines (model/rope.h). Activation gradients
// assign, q_norm/k_norm gradients accumulate. fp32.
#include <cstdint>

namespace r1::cpu {

struct HeadsShape {
  int64_t B = 0, L = 0;
  int64_t H = 0, KVH = 0, D = 0;  // query heads, key/value heads, head dim
  int64_t rot_dim = 0;            // rotated dims at the start of each head (<= D)
  bool interleaved = false;       // pairs (2i, 2i+1) instead of (i, i + rot_dim/2)
};

// Dense attention (Llama, Qwen2, Qwen3). qkv [B*L, (H + 2 KVH) * D]: q heads, k heads, v heads.
// q [B, H, L, D], k and v [B, KVH, L, D]. q_norm/k_norm [D] or null (then q_rstd/k_rstd are unused);
// q_rstd [B*L, H], k_rstd [B*L, KVH].
void heads_forward(float* q, float* k, float* v, float* q_rstd, float* k_rstd, const float* qkv,
                   const float* q_norm, const float* k_norm, float norm_eps, const float* cos_sin,
                   const HeadsShape& s);
void heads_backward(float* dqkv, float* dq_norm, float* dk_norm, const float* dq, const float* dk,
                    const float* dv, const float* qkv, const float* q_norm, const float* k_norm,
                    const float* q_rstd, const float* k_rstd, const float* cos_sin, const HeadsShape& s);

// MLA, expanded (DeepSeek-V2/V3 training and prefill): H heads, KVH = H.
//   q_in [B*L, H*(dn+dr)]: per head dn "nope" dims then dr rope dims.
//   kv_in [B*L, H*(dn+dv)]: per head dn key dims then dv value dims (kv_b output).
//   k_pe [B*L, dr] with row stride ld_pe: the rope key part shared by all heads.
// q, k [B, H, L, dn+dr] = [nope, rope(pe)]; v [B, H, L, dv]. Here s.D = dn + dr and s.rot_dim = dr; the
// rotation applies to the last dr dims of each head.
struct MlaDims {
  int64_t dn = 0, dr = 0, dv = 0;
};
void mla_heads_forward(float* q, float* k, float* v, const float* q_in, const float* kv_in, const float* k_pe,
                       int64_t ld_pe, const float* cos_sin, const HeadsShape& s, const MlaDims& m);
// dk_pe (assigned) sums the rope-part key gradient over heads.
void mla_heads_backward(float* dq_in, float* dkv_in, float* dk_pe, int64_t ld_pe, const float* dq,
                        const float* dk, const float* dv, const float* cos_sin, const HeadsShape& s,
                        const MlaDims& m);

}  // namespace r1::cpu
