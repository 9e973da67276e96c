#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "parallel.h"

namespace r1::cpu {

void attention_forward(float* out, const float* q, const AttentionRow* rows, int64_t T, int64_t H,
                       int64_t KVH, int64_t Dk, int64_t Dv, int64_t k_stride, int64_t v_stride, float scale) {
  if (Dv > kMaxAttentionDim || H % KVH != 0)
    throw std::invalid_argument("attention_forward: bad head layout");
  const int64_t group = H / KVH;
  constexpr int kBlock = 64;
  parallel_for(
      T * H,
      [&](int64_t a, int64_t b) {
        float acc[kMaxAttentionDim];
        float scores[kBlock];
        for (int64_t unit = a; unit < b; ++unit) {
          const int64_t t = unit / H, h = unit % H, kvh = h / group;
          const float* qv = q + unit * Dk;
          const AttentionRow& row = rows[t];
          float m = -std::numeric_limits<float>::infinity(), l = 0;
          std::fill(acc, acc + Dv, 0.0f);
          for (int32_t j0 = 0; j0 < row.n_keys; j0 += kBlock) {
            const int32_t n = std::min<int32_t>(kBlock, row.n_keys - j0);
            float bm = m;
            for (int32_t j = 0; j < n; ++j) {
              const float* kv = row.k + (j0 + j) * k_stride + kvh * Dk;
              float s = 0;
              for (int64_t d = 0; d < Dk; ++d) s += qv[d] * kv[d];
              scores[j] = s * scale;
              bm = std::max(bm, scores[j]);
            }
            const float correction = std::exp(m - bm);
            l *= correction;
            for (int64_t d = 0; d < Dv; ++d) acc[d] *= correction;
            for (int32_t j = 0; j < n; ++j) {
              const float p = std::exp(scores[j] - bm);
              l += p;
              const float* vv = row.v + (j0 + j) * v_stride + kvh * Dv;
              for (int64_t d = 0; d < Dv; ++d) acc[d] += p * vv[d];
            }
            m = bm;
          }
          float* o = out + unit * Dv;
          const float inv = l > 0 ? 1.0f / l : 0.0f;
          for (int64_t d = 0; d < Dv; ++d) o[d] = acc[d] * inv;
        }
      },
      4);
}

}  // namespace r1::cpu
