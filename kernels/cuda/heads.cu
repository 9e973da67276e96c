#include <algorithm>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "heads.h"

namespace r1::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxHeadDim = 256;
// Per lane: rotated pairs (i, partner) at i = lane + 32 j, and unrotated dims at rot + lane + 32 j.
constexpr int kMaxPairs = kMaxHeadDim / 2 / 32;
constexpr int kMaxRest = kMaxHeadDim / 32;

__device__ __forceinline__ float f(bf16 v) {
  return __bfloat162float(v);
}
__device__ __forceinline__ bf16 b(float v) {
  return __float2bfloat16_rn(v);
}

// dst[0, n) = src[0, n) by one warp, 16 bytes a lane where both ends allow it.
__device__ void warp_copy(bf16* dst, const bf16* src, int n) {
  const int lane = threadIdx.x & 31;
  if (n % 8 == 0 && ((reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) & 15) == 0) {
    for (int i = lane * 8; i < n; i += 32 * 8)
      *reinterpret_cast<Bf16x8*>(dst + i) = *reinterpret_cast<const Bf16x8*>(src + i);
  } else {
    for (int i = lane; i < n; i += 32) dst[i] = src[i];
  }
}

// grid (B*L, ceil((H + 2 KVH) / kWarps)): a warp per head of a token.
__global__ void __launch_bounds__(kWarps * 32)
    heads_forward_kernel(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd, const bf16* qkv,
                         const float* q_norm, const float* k_norm, float eps, const float* cos_sin,
                         const HeadsShape s) {
  const int lane = threadIdx.x & 31;
  const int H = int(s.H), KVH = int(s.KVH), D = int(s.D), heads = H + 2 * KVH;
  const int h = blockIdx.y * kWarps + (threadIdx.x >> 5);
  if (h >= heads) return;
  const int64_t t = blockIdx.x, bi = t / s.L, l = t % s.L;
  const bool is_q = h < H, is_k = !is_q && h < H + KVH;
  const int hh = is_q ? h : (is_k ? h - H : h - H - KVH);
  const int64_t nheads = is_q ? H : KVH;
  const bf16* src = qkv + (t * heads + h) * D;
  bf16* dst = (is_q ? q : (is_k ? k : v)) + ((bi * nheads + hh) * s.L + l) * D;
  if (!is_q && !is_k) {
    warp_copy(dst, src, D);
    return;
  }
  const float* nw = is_q ? q_norm : k_norm;
  float rstd = 1.0f;
  if (nw) {
    float ss = 0;
    for (int d = lane; d < D; d += 32) ss += f(src[d]) * f(src[d]);
    rstd = rsqrtf(warp_sum(ss) / float(D) + eps);
    float* saved =
        is_q ? (q_rstd ? q_rstd + t * H + hh : nullptr) : (k_rstd ? k_rstd + t * KVH + hh : nullptr);
    if (lane == 0 && saved) *saved = rstd;
  }
  const auto normed = [&](int d) { return nw ? f(src[d]) * rstd * nw[d] : f(src[d]); };
  const int half = int(s.rot_dim) / 2;
  const float* cs = cos_sin + l * s.rot_dim;
  for (int i = lane; i < half; i += 32) {
    int i0, i1;
    rope_pair(i, half, s.interleaved, i0, i1);
    const float x0 = normed(i0), x1 = normed(i1), c = cs[i], sn = cs[half + i];
    dst[i0] = b(x0 * c - x1 * sn);
    dst[i1] = b(x1 * c + x0 * sn);
  }
  for (int d = 2 * half + lane; d < D; d += 32) dst[d] = b(normed(d));
}

// The common forward (Llama, Qwen2): head_dim 128 wholly rotated in halves, no q/k norm. A warp per (token,
// head) item, each lane holding 4 consecutive dims (the warp reads the head's 256 bytes in one 8-byte load a
// lane); dim e's rotation partner e +- 64 sits 16 lanes away and comes by shuffle.
constexpr int kPlainItemsPerBlock = 8;

__global__ void __launch_bounds__(kPlainItemsPerBlock * 32)
    heads_forward_plain128_kernel(bf16* q, bf16* k, bf16* v, const bf16* qkv, const float* cos_sin,
                                  const HeadsShape s, int64_t items) {
  const int lane = threadIdx.x & 31;
  const int64_t item = blockIdx.x * int64_t(kPlainItemsPerBlock) + (threadIdx.x >> 5);
  if (item >= items) return;
  const int H = int(s.H), KVH = int(s.KVH), heads = H + 2 * KVH;
  const int64_t t = item / heads, bi = t / s.L, l = t % s.L;
  const int h = int(item % heads);
  const bool is_q = h < H, is_k = !is_q && h < H + KVH;
  const int hh = is_q ? h : (is_k ? h - H : h - H - KVH);
  const int64_t nheads = is_q ? H : KVH;
  uint2 raw = reinterpret_cast<const uint2*>(qkv + item * 128)[lane];
  if (is_q || is_k) {
    const float2 x01 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 x23 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    const float x[4] = {x01.x, x01.y, x23.x, x23.y};
    const int i = (lane & 15) * 4;  // pair index of this lane's first dim
    const float4 c = *reinterpret_cast<const float4*>(cos_sin + l * 128 + i);
    const float4 sn = *reinterpret_cast<const float4*>(cos_sin + l * 128 + 64 + i);
    const float cc[4] = {c.x, c.y, c.z, c.w}, ss[4] = {sn.x, sn.y, sn.z, sn.w};
    const float sign = lane < 16 ? -1.0f : 1.0f;  // first half: x c - partner s; second: x c + partner s
    float y[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) y[j] = x[j] * cc[j] + sign * __shfl_xor_sync(0xffffffffu, x[j], 16) * ss[j];
    const __nv_bfloat162 lo = __floats2bfloat162_rn(y[0], y[1]), hi = __floats2bfloat162_rn(y[2], y[3]);
    raw.x = *reinterpret_cast<const uint32_t*>(&lo);
    raw.y = *reinterpret_cast<const uint32_t*>(&hi);
  }
  bf16* dst = (is_q ? q : (is_k ? k : v)) + ((bi * nheads + hh) * s.L + l) * 128;
  reinterpret_cast<uint2*>(dst)[lane] = raw;
}

// Warps walk (token, head) items over a grid sized to the chip, so the q/k norm-weight gradients collect
// in registers and reach memory through one atomic per dim per block.
__global__ void __launch_bounds__(kWarps * 32)
    heads_backward_kernel(bf16* dqkv, float* dq_norm, float* dk_norm, const bf16* dq, const bf16* dk,
                          const bf16* dv, const bf16* qkv, const float* q_norm, const float* k_norm,
                          const float* q_rstd, const float* k_rstd, const float* cos_sin,
                          const HeadsShape s) {
  __shared__ float red[2][kMaxHeadDim];
  for (int i = threadIdx.x; i < 2 * kMaxHeadDim; i += blockDim.x) red[i / kMaxHeadDim][i % kMaxHeadDim] = 0;
  const int lane = threadIdx.x & 31;
  const int H = int(s.H), KVH = int(s.KVH), D = int(s.D), heads = H + 2 * KVH;
  const int half = int(s.rot_dim) / 2, rot = 2 * half;
  float pair_q[kMaxPairs][2] = {}, pair_k[kMaxPairs][2] = {}, rest_q[kMaxRest] = {}, rest_k[kMaxRest] = {};
  const int64_t items = s.B * s.L * heads;
  for (int64_t it = blockIdx.x * int64_t(kWarps) + (threadIdx.x >> 5); it < items;
       it += int64_t(gridDim.x) * kWarps) {
    const int64_t t = it / heads, bi = t / s.L, l = t % s.L;
    const int h = int(it % heads);
    const bool is_q = h < H, is_k = !is_q && h < H + KVH;
    const int hh = is_q ? h : (is_k ? h - H : h - H - KVH);
    const int64_t nheads = is_q ? H : KVH;
    const int64_t head_row = ((bi * nheads + hh) * s.L + l) * D;
    bf16* out = dqkv + (t * heads + h) * D;
    if (!is_q && !is_k) {
      warp_copy(out, dv + head_row, D);
      continue;
    }
    const bf16* g = (is_q ? dq : dk) + head_row;
    const float* cs = cos_sin + l * s.rot_dim;
    // Gradient before the rotation: the transpose (inverse) rotation of g.
    const auto unrotated = [&](int i, int i0, int i1, float& g0, float& g1) {
      const float a = f(g[i0]), c1 = f(g[i1]), c = cs[i], sn = cs[half + i];
      g0 = a * c + c1 * sn;
      g1 = c1 * c - a * sn;
    };
    const float* nw = is_q ? q_norm : k_norm;
    if (!nw) {
      for (int i = lane; i < half; i += 32) {
        int i0, i1;
        float g0, g1;
        rope_pair(i, half, s.interleaved, i0, i1);
        unrotated(i, i0, i1, g0, g1);
        out[i0] = b(g0);
        out[i1] = b(g1);
      }
      for (int d = rot + lane; d < D; d += 32) out[d] = g[d];
      continue;
    }
    const bf16* x = qkv + (t * heads + h) * D;
    const float rstd = is_q ? q_rstd[t * H + hh] : k_rstd[t * KVH + hh];
    // Σ (dy * w) * n over the head, with n = x * rstd the normalised input.
    float dot = 0;
#pragma unroll
    for (int j = 0; j < kMaxPairs; ++j) {
      const int i = lane + 32 * j;
      if (i < half) {
        int i0, i1;
        float g0, g1;
        rope_pair(i, half, s.interleaved, i0, i1);
        unrotated(i, i0, i1, g0, g1);
        const float n0 = f(x[i0]) * rstd, n1 = f(x[i1]) * rstd;
        dot += g0 * nw[i0] * n0 + g1 * nw[i1] * n1;
        if (is_q) {
          pair_q[j][0] += g0 * n0, pair_q[j][1] += g1 * n1;
        } else {
          pair_k[j][0] += g0 * n0, pair_k[j][1] += g1 * n1;
        }
      }
    }
#pragma unroll
    for (int j = 0; j < kMaxRest; ++j) {
      const int d = rot + lane + 32 * j;
      if (d < D) {
        const float gd = f(g[d]), n = f(x[d]) * rstd;
        dot += gd * nw[d] * n;
        if (is_q) {
          rest_q[j] += gd * n;
        } else {
          rest_k[j] += gd * n;
        }
      }
    }
    const float c_mean = warp_sum(dot) / float(D);
    for (int i = lane; i < half; i += 32) {
      int i0, i1;
      float g0, g1;
      rope_pair(i, half, s.interleaved, i0, i1);
      unrotated(i, i0, i1, g0, g1);
      out[i0] = b(rstd * (g0 * nw[i0] - f(x[i0]) * rstd * c_mean));
      out[i1] = b(rstd * (g1 * nw[i1] - f(x[i1]) * rstd * c_mean));
    }
    for (int d = rot + lane; d < D; d += 32) out[d] = b(rstd * (f(g[d]) * nw[d] - f(x[d]) * rstd * c_mean));
  }
  if (!(q_norm && dq_norm) && !(k_norm && dk_norm)) return;
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kMaxPairs; ++j) {
    const int i = lane + 32 * j;
    if (i < half) {
      int i0, i1;
      rope_pair(i, half, s.interleaved, i0, i1);
      atomicAdd(&red[0][i0], pair_q[j][0]);
      atomicAdd(&red[0][i1], pair_q[j][1]);
      atomicAdd(&red[1][i0], pair_k[j][0]);
      atomicAdd(&red[1][i1], pair_k[j][1]);
    }
  }
#pragma unroll
  for (int j = 0; j < kMaxRest; ++j) {
    const int d = rot + lane + 32 * j;
    if (d < D) {
      atomicAdd(&red[0][d], rest_q[j]);
      atomicAdd(&red[1][d], rest_k[j]);
    }
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    if (q_norm && dq_norm) atomicAdd(dq_norm + d, red[0][d]);
    if (k_norm && dk_norm) atomicAdd(dk_norm + d, red[1][d]);
  }
}

// Without q/k norms the backward is elementwise: a thread per (token, head, pair of dims), so every load
// is in flight at once. Pair j < half is RoPE pair j of a q or k head (rotated back); the pairs after it
// are two adjacent unrotated dims, and a v head's pairs are copied.
__global__ void heads_backward_plain_kernel(bf16* dqkv, const bf16* dq, const bf16* dk, const bf16* dv,
                                            const float* cos_sin, const HeadsShape s) {
  const int H = int(s.H), KVH = int(s.KVH), D = int(s.D), heads = H + 2 * KVH;
  const int half = int(s.rot_dim) / 2, pairs = D / 2;
  // 32-bit index arithmetic (the launcher checks the item count): 64-bit divisions would dominate.
  const uint32_t items = uint32_t(s.B * s.L * heads * pairs), L = uint32_t(s.L);
  for (uint32_t it = blockIdx.x * blockDim.x + threadIdx.x; it < items; it += gridDim.x * blockDim.x) {
    const int j = int(it % uint32_t(pairs));
    const uint32_t th = it / uint32_t(pairs), t = th / uint32_t(heads), bi = t / L, l = t % L;
    const int h = int(th % uint32_t(heads));
    const bool is_q = h < H, is_k = !is_q && h < H + KVH;
    const int hh = is_q ? h : (is_k ? h - H : h - H - KVH);
    const int64_t nheads = is_q ? H : KVH;
    const bf16* g = (is_q ? dq : (is_k ? dk : dv)) + ((int64_t(bi) * nheads + hh) * s.L + l) * D;
    bf16* out = dqkv + (int64_t(t) * heads + h) * D;
    if (j < half && (is_q || is_k)) {
      int i0, i1;
      rope_pair(j, half, s.interleaved, i0, i1);
      const float* cs = cos_sin + l * s.rot_dim;
      const float a = f(g[i0]), c1 = f(g[i1]), c = cs[j], sn = cs[half + j];
      out[i0] = b(a * c + c1 * sn);
      out[i1] = b(c1 * c - a * sn);
    } else {
      const int d = 2 * j;
      out[d] = g[d];
      out[d + 1] = g[d + 1];
    }
  }
}

// grid B*L: a block per token; its rotated k_pe is shared by every head.
__global__ void __launch_bounds__(kWarps * 32)
    mla_heads_forward_kernel(bf16* q, bf16* k, bf16* v, const bf16* q_in, const bf16* kv_in,
                             const float* k_pe, int64_t ld_pe, const float* cos_sin, const HeadsShape s,
                             const MlaDims m) {
  __shared__ float pe[kMaxHeadDim];
  const int lane = threadIdx.x & 31;
  const int H = int(s.H), dn = int(m.dn), dr = int(m.dr), dv = int(m.dv), half = dr / 2, D = dn + dr;
  const int64_t t = blockIdx.x, bi = t / s.L, l = t % s.L;
  const float* cs = cos_sin + l * dr;
  const float* pe_in = k_pe + t * ld_pe;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    int i0, i1;
    rope_pair(i, half, s.interleaved, i0, i1);
    const float x0 = pe_in[i0], x1 = pe_in[i1], c = cs[i], sn = cs[half + i];
    pe[i0] = x0 * c - x1 * sn;
    pe[i1] = x1 * c + x0 * sn;
  }
  __syncthreads();
  for (int h = threadIdx.x >> 5; h < H; h += kWarps) {
    const int64_t head_row = (bi * H + h) * s.L + l;
    const bf16* qs = q_in + (t * H + h) * D;
    bf16* qd = q + head_row * D;
    warp_copy(qd, qs, dn);
    for (int i = lane; i < half; i += 32) {
      int i0, i1;
      rope_pair(i, half, s.interleaved, i0, i1);
      const float x0 = f(qs[dn + i0]), x1 = f(qs[dn + i1]), c = cs[i], sn = cs[half + i];
      qd[dn + i0] = b(x0 * c - x1 * sn);
      qd[dn + i1] = b(x1 * c + x0 * sn);
    }
    const bf16* kvs = kv_in + (t * H + h) * (dn + dv);
    bf16* kd = k + head_row * D;
    warp_copy(kd, kvs, dn);
    for (int e = lane; e < dr; e += 32) kd[dn + e] = b(pe[e]);
    warp_copy(v + head_row * dv, kvs + dn, dv);
  }
}

// grid B*L: a block per token, so the k_pe gradient sums over heads in a fixed order (deterministic).
__global__ void __launch_bounds__(kWarps * 32)
    mla_heads_backward_kernel(bf16* dq_in, bf16* dkv_in, float* dk_pe, int64_t ld_pe, const bf16* dq,
                              const bf16* dk, const bf16* dv, const float* cos_sin, const HeadsShape s,
                              const MlaDims m) {
  __shared__ float red[kWarps][kMaxHeadDim];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int H = int(s.H), dn = int(m.dn), dr = int(m.dr), dvd = int(m.dv), half = dr / 2, D = dn + dr;
  const int64_t t = blockIdx.x, bi = t / s.L, l = t % s.L;
  const float* cs = cos_sin + l * dr;
  float acc[kMaxRest] = {};
  for (int h = warp; h < H; h += kWarps) {
    const int64_t head_row = (bi * H + h) * s.L + l;
    const bf16* gq = dq + head_row * D;
    bf16* oq = dq_in + (t * H + h) * D;
    warp_copy(oq, gq, dn);
    for (int i = lane; i < half; i += 32) {
      int i0, i1;
      rope_pair(i, half, s.interleaved, i0, i1);
      const float g0 = f(gq[dn + i0]), g1 = f(gq[dn + i1]), c = cs[i], sn = cs[half + i];
      oq[dn + i0] = b(g0 * c + g1 * sn);
      oq[dn + i1] = b(g1 * c - g0 * sn);
    }
    const bf16* gk = dk + head_row * D;
    bf16* okv = dkv_in + (t * H + h) * (dn + dvd);
    warp_copy(okv, gk, dn);
    warp_copy(okv + dn, dv + head_row * dvd, dvd);
#pragma unroll
    for (int j = 0; j < kMaxRest; ++j) {
      const int e = lane + 32 * j;
      if (e < dr) acc[j] += f(gk[dn + e]);
    }
  }
#pragma unroll
  for (int j = 0; j < kMaxRest; ++j) {
    const int e = lane + 32 * j;
    if (e < dr) red[warp][e] = acc[j];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    int i0, i1;
    rope_pair(i, half, s.interleaved, i0, i1);
    float g0 = 0, g1 = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) g0 += red[w][i0], g1 += red[w][i1];
    const float c = cs[i], sn = cs[half + i];
    dk_pe[t * ld_pe + i0] = g0 * c + g1 * sn;
    dk_pe[t * ld_pe + i1] = g1 * c - g0 * sn;
  }
}

void check_dense(const char* op, const HeadsShape& s) {
  if (s.B < 0 || s.L < 0 || s.H <= 0 || s.KVH <= 0 || s.D <= 0 || s.D > kMaxHeadDim || s.rot_dim < 0 ||
      s.rot_dim % 2 || s.rot_dim > s.D)
    throw std::invalid_argument(std::string(op) +
                                ": needs H, KVH > 0, 0 < D <= 256 and an even rot_dim <= D");
}

void check_mla(const char* op, const HeadsShape& s, const MlaDims& m, int64_t ld_pe) {
  if (s.B < 0 || s.L < 0 || s.H <= 0 || m.dn < 0 || m.dv <= 0 || m.dr < 0 || m.dr % 2 || m.dr > kMaxHeadDim ||
      s.D != m.dn + m.dr || s.rot_dim != m.dr || ld_pe < m.dr)
    throw std::invalid_argument(std::string(op) +
                                ": needs D = dn + dr, rot_dim = dr (even, <= 256), dv > 0 and ld_pe >= dr");
}

}  // namespace

void heads_forward(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd, const bf16* qkv,
                   const float* q_norm, const float* k_norm, float norm_eps, const float* cos_sin,
                   const HeadsShape& s, cudaStream_t stream) {
  check_dense("heads_forward", s);
  const int64_t T = s.B * s.L;
  if (T == 0) return;
  if (s.D == 128 && s.rot_dim == 128 && !s.interleaved && !q_norm && !k_norm && aligned(qkv, 8) &&
      aligned(q, 8) && aligned(k, 8) && aligned(v, 8) && aligned(cos_sin, 16)) {
    const int64_t items = T * (s.H + 2 * s.KVH);
    const unsigned grid = unsigned((items + kPlainItemsPerBlock - 1) / kPlainItemsPerBlock);
    heads_forward_plain128_kernel<<<grid, kPlainItemsPerBlock * 32, 0, stream>>>(q, k, v, qkv, cos_sin, s,
                                                                                 items);
    R1_CUDA_LAUNCHED();
    return;
  }
  const dim3 grid(unsigned(T), unsigned((s.H + 2 * s.KVH + kWarps - 1) / kWarps));
  heads_forward_kernel<<<grid, kWarps * 32, 0, stream>>>(q, k, v, q_rstd, k_rstd, qkv, q_norm, k_norm,
                                                         norm_eps, cos_sin, s);
  R1_CUDA_LAUNCHED();
}

void heads_backward(bf16* dqkv, float* dq_norm, float* dk_norm, const bf16* dq, const bf16* dk,
                    const bf16* dv, const bf16* qkv, const float* q_norm, const float* k_norm,
                    const float* q_rstd, const float* k_rstd, const float* cos_sin, const HeadsShape& s,
                    cudaStream_t stream) {
  check_dense("heads_backward", s);
  if ((q_norm && !q_rstd) || (k_norm && !k_rstd))
    throw std::invalid_argument("heads_backward: a q/k norm weight is given without its saved rstd");
  const int64_t items = s.B * s.L * (s.H + 2 * s.KVH);
  if (items == 0) return;
  if (!q_norm && !k_norm && s.D % 2 == 0 && items * (s.D / 2) < int64_t(1) << 31) {
    const int64_t n = items * (s.D / 2);
    const unsigned grid = unsigned(std::min<int64_t>((n + 255) / 256, int64_t(sm_count()) * 32));
    heads_backward_plain_kernel<<<grid, 256, 0, stream>>>(dqkv, dq, dk, dv, cos_sin, s);
    R1_CUDA_LAUNCHED();
    return;
  }
  // About one full wave (16 blocks of 4 warps an SM): the norm-weight partials reach memory once a block.
  const unsigned blocks =
      unsigned(std::min<int64_t>((items + kWarps - 1) / kWarps, int64_t(sm_count()) * 16));
  heads_backward_kernel<<<blocks, kWarps * 32, 0, stream>>>(dqkv, dq_norm, dk_norm, dq, dk, dv, qkv, q_norm,
                                                            k_norm, q_rstd, k_rstd, cos_sin, s);
  R1_CUDA_LAUNCHED();
}

void mla_heads_forward(bf16* q, bf16* k, bf16* v, const bf16* q_in, const bf16* kv_in, const float* k_pe,
                       int64_t ld_pe, const float* cos_sin, const HeadsShape& s, const MlaDims& m,
                       cudaStream_t stream) {
  check_mla("mla_heads_forward", s, m, ld_pe);
  const int64_t T = s.B * s.L;
  if (T == 0) return;
  mla_heads_forward_kernel<<<unsigned(T), kWarps * 32, 0, stream>>>(q, k, v, q_in, kv_in, k_pe, ld_pe,
                                                                    cos_sin, s, m);
  R1_CUDA_LAUNCHED();
}

void mla_heads_backward(bf16* dq_in, bf16* dkv_in, float* dk_pe, int64_t ld_pe, const bf16* dq,
                        const bf16* dk, const bf16* dv, const float* cos_sin, const HeadsShape& s,
                        const MlaDims& m, cudaStream_t stream) {
  check_mla("mla_heads_backward", s, m, ld_pe);
  const int64_t T = s.B * s.L;
  if (T == 0) return;
  mla_heads_backward_kernel<<<unsigned(T), kWarps * 32, 0, stream>>>(dq_in, dkv_in, dk_pe, ld_pe, dq, dk, dv,
                                                                     cos_sin, s, m);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
