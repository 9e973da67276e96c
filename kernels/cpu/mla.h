#pragma once
// Weight absorption for Multi-head Latent Attention (DeepSeek-V2 §2.1): with kv_b = [W_UK; W_UV] per head,
// q·k_nope = (W_UK^T q_nope)·c_kv and o = W_UV (softmax · c_kv), so decode attends over the cached latent
// c_kv without rebuilding per-head keys and values. kv_b is [H * (d_nope + d_v), kv_lora] in its stored dtype
// (F32, F16 or BF16): per head, d_nope rows of W_UK then d_v rows of W_UV. Activations fp32. Forward only.
#include <cstdint>

#include "../common/dtype.h"

namespace r1::cpu {

// q_lat[t, h, 0:kv_lora] = W_UK[h]^T q_nope[t, h]. q_nope of token t, head h starts at
// q + t * H * q_head_stride + h * q_head_stride; q_lat rows of head h start at q_lat + (t * H + h) *
// q_lat_stride.
void mla_absorb_query_forward(float* q_lat, int64_t q_lat_stride, const float* q, int64_t q_head_stride,
                              const void* kv_b, DType dtype, int64_t T, int64_t H, int64_t d_nope,
                              int64_t d_v, int64_t kv_lora);

// o[t, h, 0:d_v] = W_UV[h] o_lat[t, h] with o_lat [T, H, kv_lora] and o [T, H, d_v].
void mla_absorb_output_forward(float* o, const float* o_lat, const void* kv_b, DType dtype, int64_t T,
                               int64_t H, int64_t d_nope, int64_t d_v, int64_t kv_lora);

}  // namespace r1::cpu
