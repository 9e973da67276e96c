#pragma once
// Rotary position embedding, in place on x[T, heads, head_dim]: the first rot_dim dims of each head rotate by
// angle pos * inv_freq[i]. cos_sin holds, per position, rot_dim/2 cosines then rot_dim/2 sines.
// Rotate-half layout (Llama, Qwen): pairs (i, i + rot_dim/2). Interleaved (DeepSeek rope_interleave): (2i,
// 2i+1).
#include <cstdint>

namespace r1::cpu {

void rope_forward(float* x, const int32_t* positions, const float* cos_sin, int64_t T, int64_t heads,
                  int64_t head_dim, int64_t rot_dim, bool interleaved);

}  // namespace r1::cpu
