#include "heads.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "parallel.h"
#include "rope.h"

namespace r1::cpu {
namespace {

constexpr int64_t kNormColumnBlock = 16;  // norm-weight gradient columns summed together by one thread

std::string describe(const HeadsShape& s) {
  return "B=" + std::to_string(s.B) + " L=" + std::to_string(s.L) + " H=" + std::to_string(s.H) +
         " KVH=" + std::to_string(s.KVH) + " D=" + std::to_string(s.D) +
         " rot_dim=" + std::to_string(s.rot_dim);
}

void check_shape(const char* op, const HeadsShape& s, const float* cos_sin) {
  if (s.B < 0 || s.L < 0 || s.H <= 0 || s.KVH <= 0 || s.D <= 0)
    throw std::invalid_argument(std::string(op) + ": need B, L >= 0 and H, KVH, D > 0, got " + describe(s));
  if (s.rot_dim < 0 || s.rot_dim > s.D || s.rot_dim % 2 != 0)
    throw std::invalid_argument(std::string(op) + ": rot_dim must be even and in [0, D], got " + describe(s));
  if (s.rot_dim > 0 && !cos_sin) throw std::invalid_argument(std::string(op) + ": cos_sin is null");
}

void check_mla(const char* op, const HeadsShape& s, const MlaDims& m, int64_t ld_pe) {
  if (m.dn < 0 || m.dr <= 0 || m.dv <= 0 || s.KVH != s.H || s.D != m.dn + m.dr || s.rot_dim != m.dr ||
      ld_pe < m.dr)
    throw std::invalid_argument(std::string(op) +
                                ": need KVH = H, D = dn + dr, rot_dim = dr, ld_pe >= dr; got " + describe(s) +
                                " dn=" + std::to_string(m.dn) + " dr=" + std::to_string(m.dr) +
                                " dv=" + std::to_string(m.dv) + " ld_pe=" + std::to_string(ld_pe));
}

// The transpose of rope_rotate (the inverse rotation): a gradient with respect to the rotated vector becomes
// one with respect to the vector before rotation.
inline void unrotate(float* g, const float* c, int64_t half, bool interleaved) {
  const float* s = c + half;
  for (int64_t i = 0; i < half; ++i) {
    const int64_t i0 = rope_first(i, interleaved), i1 = rope_second(i, half, interleaved);
    const float g0 = g[i0], g1 = g[i1];
    g[i0] = g0 * c[i] + g1 * s[i];
    g[i1] = g1 * c[i] - g0 * s[i];
  }
}

// Component j of unrotate(g) without writing g, for the column-parallel norm-weight gradient.
inline float unrotated_at(const float* g, int64_t j, const float* c, int64_t half, bool interleaved) {
  if (j >= 2 * half) return g[j];
  const int64_t i = interleaved ? j / 2 : j % half;
  const bool first = interleaved ? j % 2 == 0 : j < half;
  const float* s = c + half;
  if (first) return g[j] * c[i] + g[rope_second(i, half, interleaved)] * s[i];
  return g[j] * c[i] - g[rope_first(i, interleaved)] * s[i];
}

// y = x r w over one head with r = (mean(x^2) + eps)^-1/2 (rounded as rmsnorm_forward); returns r.
inline float norm_head(float* y, const float* x, const float* w, int64_t D, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < D; ++i) ss += double(x[i]) * x[i];
  const float r = 1.0f / std::sqrt(float(ss / double(D)) + eps);
  for (int64_t i = 0; i < D; ++i) y[i] = x[i] * r * w[i];
  return r;
}

// In place: g holds dL/dy on entry and dL/dx on exit, dx = r (w g) - r^3 / D * x * Σ_j w_j g_j x_j.
inline void norm_head_backward(float* g, const float* x, const float* w, float r, int64_t D) {
  double dot = 0;
  for (int64_t i = 0; i < D; ++i) dot += double(w[i]) * g[i] * x[i];
  const double rd = r;
  const float coef = float(rd * rd * rd * dot / double(D));
  for (int64_t i = 0; i < D; ++i) g[i] = r * w[i] * g[i] - coef * x[i];
}

// One group of heads (the q heads or the k heads) as it sits in the fused projection.
struct HeadGroup {
  int64_t count;   // heads in the group
  int64_t offset;  // first head of the group within a qkv row
  const float* norm;
  const float* rstd;  // [B*L, count]
};

// dnorm[j] += Σ over tokens and heads of (unrotated dy)_j * x_j * r, split by columns so that each sum
// stays in one thread.
void norm_weight_grad(float* dnorm, const float* dy, const float* qkv, const HeadGroup& g,
                      const float* cos_sin, const HeadsShape& s) {
  const int64_t T = s.B * s.L, row = (s.H + 2 * s.KVH) * s.D, half = s.rot_dim / 2;
  const int64_t blocks = (s.D + kNormColumnBlock - 1) / kNormColumnBlock;
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    double acc[kNormColumnBlock];
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t j0 = blk * kNormColumnBlock, j1 = std::min(s.D, j0 + kNormColumnBlock);
      std::fill_n(acc, j1 - j0, 0.0);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t b = t / s.L, l = t % s.L;
        const float* c = half > 0 ? cos_sin + l * s.rot_dim : nullptr;
        for (int64_t h = 0; h < g.count; ++h) {
          const float* dyr = dy + ((b * g.count + h) * s.L + l) * s.D;
          const float* xr = qkv + t * row + (g.offset + h) * s.D;
          const double r = g.rstd[t * g.count + h];
          for (int64_t j = j0; j < j1; ++j)
            acc[j - j0] += double(unrotated_at(dyr, j, c, half, s.interleaved)) * xr[j] * r;
        }
      }
      for (int64_t j = j0; j < j1; ++j) dnorm[j] += float(acc[j - j0]);
    }
  });
}

}  // namespace

void heads_forward(float* q, float* k, float* v, float* q_rstd, float* k_rstd, const float* qkv,
                   const float* q_norm, const float* k_norm, float norm_eps, const float* cos_sin,
                   const HeadsShape& s) {
  check_shape("heads_forward", s, cos_sin);
  const int64_t heads = s.H + 2 * s.KVH, row = heads * s.D, half = s.rot_dim / 2, D = s.D;
  parallel_for(
      s.B * s.L * heads,
      [&](int64_t a, int64_t e) {
        for (int64_t unit = a; unit < e; ++unit) {
          const int64_t t = unit / heads, j = unit % heads, b = t / s.L, l = t % s.L;
          const float* src = qkv + t * row + j * D;
          float* dst;
          const float* norm;
          float* rstd;
          if (j < s.H) {
            dst = q + ((b * s.H + j) * s.L + l) * D;
            norm = q_norm;
            rstd = q_rstd ? q_rstd + t * s.H + j : nullptr;
          } else if (j < s.H + s.KVH) {
            const int64_t h = j - s.H;
            dst = k + ((b * s.KVH + h) * s.L + l) * D;
            norm = k_norm;
            rstd = k_rstd ? k_rstd + t * s.KVH + h : nullptr;
          } else {
            std::copy_n(src, D, v + ((b * s.KVH + j - s.H - s.KVH) * s.L + l) * D);
            continue;
          }
          if (norm) {
            const float r = norm_head(dst, src, norm, D, norm_eps);
            if (rstd) *rstd = r;
          } else {
            std::copy_n(src, D, dst);
          }
          if (half > 0) rope_rotate(dst, cos_sin + l * s.rot_dim, half, s.interleaved);
        }
      },
      16);
}

void heads_backward(float* dqkv, float* dq_norm, float* dk_norm, const float* dq, const float* dk,
                    const float* dv, const float* qkv, const float* q_norm, const float* k_norm,
                    const float* q_rstd, const float* k_rstd, const float* cos_sin, const HeadsShape& s) {
  check_shape("heads_backward", s, cos_sin);
  if ((q_norm && !q_rstd) || (k_norm && !k_rstd))
    throw std::invalid_argument("heads_backward: a q/k norm weight is given without its saved rstd");
  const int64_t heads = s.H + 2 * s.KVH, row = heads * s.D, half = s.rot_dim / 2, D = s.D;
  if (q_norm && dq_norm) norm_weight_grad(dq_norm, dq, qkv, {s.H, 0, q_norm, q_rstd}, cos_sin, s);
  if (k_norm && dk_norm) norm_weight_grad(dk_norm, dk, qkv, {s.KVH, s.H, k_norm, k_rstd}, cos_sin, s);
  parallel_for(
      s.B * s.L * heads,
      [&](int64_t a, int64_t e) {
        for (int64_t unit = a; unit < e; ++unit) {
          const int64_t t = unit / heads, j = unit % heads, b = t / s.L, l = t % s.L;
          float* g = dqkv + t * row + j * D;
          const float* norm;
          float rstd = 0;
          if (j < s.H) {
            std::copy_n(dq + ((b * s.H + j) * s.L + l) * D, D, g);
            norm = q_norm;
            if (norm) rstd = q_rstd[t * s.H + j];
          } else if (j < s.H + s.KVH) {
            const int64_t h = j - s.H;
            std::copy_n(dk + ((b * s.KVH + h) * s.L + l) * D, D, g);
            norm = k_norm;
            if (norm) rstd = k_rstd[t * s.KVH + h];
          } else {
            std::copy_n(dv + ((b * s.KVH + j - s.H - s.KVH) * s.L + l) * D, D, g);
            continue;
          }
          if (half > 0) unrotate(g, cos_sin + l * s.rot_dim, half, s.interleaved);
          if (norm) norm_head_backward(g, qkv + t * row + j * D, norm, rstd, D);
        }
      },
      16);
}

void mla_heads_forward(float* q, float* k, float* v, const float* q_in, const float* kv_in, const float* k_pe,
                       int64_t ld_pe, const float* cos_sin, const HeadsShape& s, const MlaDims& m) {
  check_shape("mla_heads_forward", s, cos_sin);
  check_mla("mla_heads_forward", s, m, ld_pe);
  const int64_t D = s.D, kv_head = m.dn + m.dv, half = m.dr / 2;
  parallel_for(
      s.B * s.L * s.H,
      [&](int64_t a, int64_t e) {
        for (int64_t unit = a; unit < e; ++unit) {
          const int64_t t = unit / s.H, h = unit % s.H, b = t / s.L, l = t % s.L;
          const float* c = cos_sin + l * m.dr;
          const int64_t head_row = (b * s.H + h) * s.L + l;
          float* qd = q + head_row * D;
          std::copy_n(q_in + (t * s.H + h) * D, D, qd);
          rope_rotate(qd + m.dn, c, half, s.interleaved);
          const float* kv = kv_in + (t * s.H + h) * kv_head;
          float* kd = k + head_row * D;
          std::copy_n(kv, m.dn, kd);
          std::copy_n(k_pe + t * ld_pe, m.dr, kd + m.dn);
          rope_rotate(kd + m.dn, c, half, s.interleaved);
          std::copy_n(kv + m.dn, m.dv, v + head_row * m.dv);
        }
      },
      16);
}

void mla_heads_backward(float* dq_in, float* dkv_in, float* dk_pe, int64_t ld_pe, const float* dq,
                        const float* dk, const float* dv, const float* cos_sin, const HeadsShape& s,
                        const MlaDims& m) {
  check_shape("mla_heads_backward", s, cos_sin);
  check_mla("mla_heads_backward", s, m, ld_pe);
  const int64_t D = s.D, kv_head = m.dn + m.dv, half = m.dr / 2;
  parallel_for(
      s.B * s.L,
      [&](int64_t a, int64_t e) {
        for (int64_t t = a; t < e; ++t) {
          const int64_t b = t / s.L, l = t % s.L;
          const float* c = cos_sin + l * m.dr;
          float* pe = dk_pe + t * ld_pe;
          std::fill_n(pe, m.dr, 0.0f);
          for (int64_t h = 0; h < s.H; ++h) {
            const int64_t head_row = (b * s.H + h) * s.L + l;
            float* gq = dq_in + (t * s.H + h) * D;
            std::copy_n(dq + head_row * D, D, gq);
            unrotate(gq + m.dn, c, half, s.interleaved);
            const float* gk = dk + head_row * D;
            float* gkv = dkv_in + (t * s.H + h) * kv_head;
            std::copy_n(gk, m.dn, gkv);
            std::copy_n(dv + head_row * m.dv, m.dv, gkv + m.dn);
            for (int64_t i = 0; i < m.dr; ++i) pe[i] += gk[m.dn + i];
          }
          // The rotation is linear and the same for every head, so it is undone once on the sum.
          unrotate(pe, c, half, s.interleaved);
        }
      },
      4);
}

}  // namespace r1::cpu
