#include "mla.h"

#include <algorithm>
#include <stdexcept>

#include "attention.h"
#include "linear.h"
#include "parallel.h"

namespace r1::cpu {
namespace {

constexpr int64_t kTokenBlock = 32;  // tokens sharing one widened weight row

const void* weight_row(const void* w, DType dtype, int64_t row, int64_t cols) {
  return static_cast<const unsigned char*>(w) + size_t(row * cols) * dtype_size(dtype);
}

}  // namespace

void mla_absorb_query_forward(float* q_lat, int64_t q_lat_stride, const float* q, int64_t q_head_stride,
                              const void* kv_b, DType dtype, int64_t T, int64_t H, int64_t d_nope,
                              int64_t d_v, int64_t kv_lora) {
  if (kv_lora > kMaxAttentionDim || !is_float_weight(dtype))
    throw std::invalid_argument("mla_absorb_query_forward: bad latent width or weight dtype");
  const int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
  parallel_for(H * blocks, [&](int64_t a, int64_t b) {
    float row[kMaxAttentionDim];
    for (int64_t unit = a; unit < b; ++unit) {
      const int64_t h = unit / blocks, t0 = (unit % blocks) * kTokenBlock, t1 = std::min(T, t0 + kTokenBlock);
      for (int64_t t = t0; t < t1; ++t) std::fill_n(q_lat + (t * H + h) * q_lat_stride, kv_lora, 0.0f);
      for (int64_t i = 0; i < d_nope; ++i) {
        widen_row(row, weight_row(kv_b, dtype, h * (d_nope + d_v) + i, kv_lora), dtype, kv_lora);
        for (int64_t t = t0; t < t1; ++t) {
          const float qi = q[(t * H + h) * q_head_stride + i];
          float* dst = q_lat + (t * H + h) * q_lat_stride;
          for (int64_t j = 0; j < kv_lora; ++j) dst[j] += qi * row[j];
        }
      }
    }
  });
}

void mla_absorb_output_forward(float* o, const float* o_lat, const void* kv_b, DType dtype, int64_t T,
                               int64_t H, int64_t d_nope, int64_t d_v, int64_t kv_lora) {
  if (kv_lora > kMaxAttentionDim || !is_float_weight(dtype))
    throw std::invalid_argument("mla_absorb_output_forward: bad latent width or weight dtype");
  const int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
  parallel_for(H * blocks, [&](int64_t a, int64_t b) {
    float row[kMaxAttentionDim];
    for (int64_t unit = a; unit < b; ++unit) {
      const int64_t h = unit / blocks, t0 = (unit % blocks) * kTokenBlock, t1 = std::min(T, t0 + kTokenBlock);
      for (int64_t j = 0; j < d_v; ++j) {
        widen_row(row, weight_row(kv_b, dtype, h * (d_nope + d_v) + d_nope + j, kv_lora), dtype, kv_lora);
        for (int64_t t = t0; t < t1; ++t) {
          const float* src = o_lat + (t * H + h) * kv_lora;
          float s = 0;
          for (int64_t k = 0; k < kv_lora; ++k) s += row[k] * src[k];
          o[(t * H + h) * d_v + j] = s;
        }
      }
    }
  });
}

}  // namespace r1::cpu
