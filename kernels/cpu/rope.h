#pragma once
// Rotary position embedding, in place on x[T, heads, head_dim]: the first rot_dim dims of each head rotate by
// angle pos * inv_freq[i]. cos_sin holds, per position, rot_dim/2 cosines then rot_dim/2 sines.
// Rotate-half layout (Llama, Qwen): pairs (i, i + rot_dim/2). Interleaved (DeepSeek rope_interleave): (2i,
// 2i+1).
#include <cstdint>

namespace r1::cpu {

// Index pair i of the rotation: (i, i + half) rotate-half, (2i, 2i + 1) interleaved.
inline int64_t rope_first(int64_t i, bool interleaved) {
  return interleaved ? 2 * i : i;
}
inline int64_t rope_second(int64_t i, int64_t half, bool interleaved) {
  return interleaved ? 2 * i + 1 : i + half;
}

// RoPE on the first 2*half dims of one head's v; c holds half cosines then half sines.
inline void rope_rotate(float* v, const float* c, int64_t half, bool interleaved) {
  const float* s = c + half;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t i0 = rope_first(i, interleaved), i1 = rope_second(i, half, interleaved);
    const float x0 = v[i0], x1 = v[i1];
    v[i0] = x0 * c[i] - x1 * s[i];
    v[i1] = x1 * c[i] + x0 * s[i];
  }
}

void rope_forward(float* x, const int32_t* positions, const float* cos_sin, int64_t T, int64_t heads,
                  int64_t head_dim, int64_t rot_dim, bool interleaved);

}  // namespace r1::cpu
