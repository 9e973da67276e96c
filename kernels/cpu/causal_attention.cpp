#include "causal_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

void check_shape(const char* op, const AttentionShape& s) {
  if (s.B < 0 || s.L < 0 || s.H <= 0 || s.KVH <= 0 || s.Dk <= 0 || s.Dv <= 0 || s.H % s.KVH != 0)
    throw std::invalid_argument(
        std::string(op) + ": need B, L >= 0, H, KVH, Dk, Dv > 0 and KVH dividing H, got B=" +
        std::to_string(s.B) + " L=" + std::to_string(s.L) + " H=" + std::to_string(s.H) +
        " KVH=" + std::to_string(s.KVH) + " Dk=" + std::to_string(s.Dk) + " Dv=" + std::to_string(s.Dv));
}

// Four partial sums give the compiler independent chains to schedule (fp32 sums are not reassociated).
inline float dot(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

void causal_attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                              const AttentionShape& s) {
  check_shape("causal_attention_forward", s);
  const int64_t L = s.L, Dk = s.Dk, Dv = s.Dv, group = s.H / s.KVH, ld_out = s.H * Dv;
  parallel_for(s.B * s.H, [&](int64_t a, int64_t e) {
    for (int64_t unit = a; unit < e; ++unit) {
      const int64_t b = unit / s.H, h = unit % s.H, kvh = h / group;
      const float* Q = q + unit * L * Dk;
      const float* K = k + (b * s.KVH + kvh) * L * Dk;
      const float* V = v + (b * s.KVH + kvh) * L * Dv;
      float* P = probs + unit * L * L;
      for (int64_t i = 0; i < L; ++i) {
        float* p = P + i * L;
        float top = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j <= i; ++j) {
          p[j] = s.scale * dot(Q + i * Dk, K + j * Dk, Dk);
          top = std::max(top, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= i; ++j) {
          p[j] = std::exp(p[j] - top);
          sum += p[j];
        }
        const float inv = float(1.0 / sum);
        for (int64_t j = 0; j <= i; ++j) p[j] *= inv;
        std::fill(p + i + 1, p + L, 0.0f);
        float* o = out + (b * L + i) * ld_out + h * Dv;
        std::fill_n(o, Dv, 0.0f);
        for (int64_t j = 0; j <= i; ++j) axpy(o, p[j], V + j * Dv, Dv);
      }
    }
  });
}

// Per query head: dV += P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = scale dS K,
// dK += scale dS^T Q. One work item is a key/value head with its whole query group, so the group sums of
// dK and dV stay in one thread and come out the same for any thread count.
void causal_attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                               const float* out, const float* probs, const float* q, const float* k,
                               const float* v, const AttentionShape& s) {
  check_shape("causal_attention_backward", s);
  const int64_t L = s.L, Dk = s.Dk, Dv = s.Dv, group = s.H / s.KVH, ld_out = s.H * Dv;
  parallel_for(s.B * s.KVH, [&](int64_t a, int64_t e) {
    for (int64_t unit = a; unit < e; ++unit) {
      const int64_t b = unit / s.KVH, kvh = unit % s.KVH;
      const float* K = k + unit * L * Dk;
      const float* V = v + unit * L * Dv;
      float* dK = dk + unit * L * Dk;
      float* dV = dv + unit * L * Dv;
      std::fill_n(dK, L * Dk, 0.0f);
      std::fill_n(dV, L * Dv, 0.0f);
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const int64_t head = b * s.H + h;
        const float* Q = q + head * L * Dk;
        const float* P = probs + head * L * L;
        float* dQ = dq + head * L * Dk;
        float* dS = scratch + head * L * L;
        for (int64_t i = 0; i < L; ++i) {
          const float* p = P + i * L;
          float* ds = dS + i * L;
          const float* dO = dout + (b * L + i) * ld_out + h * Dv;
          const float row_dot = dot(dO, out + (b * L + i) * ld_out + h * Dv, Dv);
          for (int64_t j = 0; j <= i; ++j) {
            ds[j] = dot(dO, V + j * Dv, Dv);
            ds[j] = p[j] * (ds[j] - row_dot);
            axpy(dV + j * Dv, p[j], dO, Dv);
          }
          std::fill(ds + i + 1, ds + L, 0.0f);
          float* dq_row = dQ + i * Dk;
          std::fill_n(dq_row, Dk, 0.0f);
          for (int64_t j = 0; j <= i; ++j) {
            const float g = s.scale * ds[j];
            axpy(dq_row, g, K + j * Dk, Dk);
            axpy(dK + j * Dk, g, Q + i * Dk, Dk);
          }
        }
      }
    }
  });
}

}  // namespace r1::cpu
