#include <climits>
#include <stdexcept>
#include <string>

#include "device_utils.cuh"
#include "flash_attention.h"
#include "mma.cuh"

// Kernels after FlashAttention-2:
// - forward: a block per (64-query tile, b, h); each warp owns 16 queries and walks the key tiles up to the
//   diagonal with an online softmax (log2 domain);
// - backward: delta = rowsum(dO O) first; then a block per (64-key tile, b, h) walks the query tiles from the
//   diagonal on, 32 at a time: P^T from the saved log-sum-exp, dP^T = V dO^T, dS^T = P^T (dP^T - delta),
//   dV += P^T dO, dK += dS^T Q, and dQ += dS K through fp32 atomics (every key tile adds to the same query
//   rows). Each query head writes its own fp32 dk/dv rows; last kernels sum a group's heads and round dk, dv
//   and dq to bf16.
// Tiles are staged with cp.async into XOR-swizzled shared memory (mma.cuh). Blocks with the most tiles start
// first.

namespace r1::cuda {
namespace {

using mma::cp_async16;
using mma::cp_async_commit;
using mma::cp_async_wait;
using mma::load_a;
using mma::load_b_cols;
using mma::load_b_rows;
using mma::mma16816;
using mma::pack_bf16;
using mma::swz;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int BK = 64;   // keys per tile
constexpr int BQ2 = 32;  // query rows per step of the dk/dv block
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct Dims {
  int B, L, H, KVH, group;
  float scale_log2;  // scale * log2(e)
};

// rows [row0, row0 + ROWS) of a head-major [L, D] matrix into a swizzled tile; rows past L read as zero.
template <int D, int ROWS>
__device__ __forceinline__ void stage(bf16* tile, const bf16* src, int row0, int L) {
  constexpr int kChunks = D / 8;
  for (int i = threadIdx.x; i < ROWS * kChunks; i += kThreads) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    const bool ok = row0 + r < L;
    cp_async16(tile + swz<D>(r, c), src + (ok ? int64_t(row0 + r) * D + c : 0), ok);
  }
}

// The same from a token-major [B*L, H*D] matrix (out, dout): row i of head h is at (b*L + i) * H + h.
template <int D, int ROWS>
__device__ __forceinline__ void stage_tokens(bf16* tile, const bf16* src, int b, int h, int row0,
                                             const Dims& d) {
  constexpr int kChunks = D / 8;
  for (int i = threadIdx.x; i < ROWS * kChunks; i += kThreads) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    const bool ok = row0 + r < d.L;
    const int64_t off = ok ? (int64_t(b * d.L + row0 + r) * d.H + h) * D + c : 0;
    cp_async16(tile + swz<D>(r, c), src + off, ok);
  }
}

constexpr int BQ = kWarps * 16;  // query rows per forward block: 16 per warp

template <int D>
struct FwdSmem {
  bf16 q[BQ * D];
  bf16 k[2][BK * D];  // double-buffered: the next tile loads while this one is used
  bf16 v[2][BK * D];
};

// Each warp owns 16 queries. (Two 16-row blocks per warp, so that each K and V fragment fed two products, ran
// slower on an H200.)
template <int D>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, Dims d) {
  extern __shared__ __align__(128) unsigned char raw[];
  FwdSmem<D>& sm = *reinterpret_cast<FwdSmem<D>*>(raw);
  const int tiles = (d.L + BQ - 1) / BQ;
  const int q0 = (tiles - 1 - int(blockIdx.x)) * BQ;
  const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H, kvh = h / d.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
  const bf16* kb = k + int64_t(b * d.KVH + kvh) * d.L * D;
  const bf16* vb = v + int64_t(b * d.KVH + kvh) * d.L * D;

  const mma::Lanes<D> ln(lane);
  const uint32_t sq = mma::smem_addr(sm.q);
  stage<D, BQ>(sm.q, q + int64_t(bh) * d.L * D, q0, d.L);
  stage<D, BK>(sm.k[0], kb, 0, d.L);
  stage<D, BK>(sm.v[0], vb, 0, d.L);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  float o[D / 8][4];
#pragma unroll
  for (int t = 0; t < D / 8; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const int row_base = q0 + warp * 16 + g;  // this lane's rows: row_base and row_base + 8
  const int last_key = min(q0 + BQ, d.L) - 1;

  for (int k0 = 0, buf = 0; k0 <= last_key; k0 += BK, buf ^= 1) {
    if (k0 + BK <= last_key) {  // the next tile, into the buffer the previous iteration finished with
      stage<D, BK>(sm.k[buf ^ 1], kb, k0 + BK, d.L);
      stage<D, BK>(sm.v[buf ^ 1], vb, k0 + BK, d.L);
    }
    cp_async_commit();
    if (k0 <= q0 + warp * 16 + 15) {  // else every key of the tile follows this warp's queries
      const uint32_t tk = mma::smem_addr(sm.k[buf]), tv = mma::smem_addr(sm.v[buf]);
      float s[BK / 8][4];
#pragma unroll
      for (int t = 0; t < BK / 8; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t qa[4];
        load_a<D>(qa, sq, ln, warp * 16, kk * 16);
#pragma unroll
        for (int t = 0; t < BK / 8; t += 2) {
          uint32_t bf[4];
          load_b_rows<D>(bf, tk, ln, t * 8, kk * 16);
          mma16816(s[t], qa, bf[0], bf[1]);
          mma16816(s[t + 1], qa, bf[2], bf[3]);
        }
      }
      const bool diagonal = k0 + BK - 1 > q0 + warp * 16;
      float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int t = 0; t < BK / 8; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + t * 8 + c2 + (e & 1);
          float x = s[t][e] * d.scale_log2;
          if (diagonal && key > row_base + 8 * (e >> 1)) x = -INFINITY;
          s[t][e] = x;
          tile_max[e >> 1] = fmaxf(tile_max[e >> 1], x);
        }
      float corr[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
        tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
        // Key 0 is in every row's first tile, so m is finite from then on; a row whose keys of this tile are
        // all masked keeps its m (its p are exp2(-inf) = 0).
        const float m_new = fmaxf(m[r], tile_max[r]);
        corr[r] = exp2f(m[r] - m_new);
        m[r] = m_new;
        l[r] *= corr[r];
      }
#pragma unroll
      for (int t = 0; t < BK / 8; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f(s[t][e] - m[e >> 1]);
          s[t][e] = p;
          l[e >> 1] += p;
        }
#pragma unroll
      for (int t = 0; t < D / 8; ++t) {
        o[t][0] *= corr[0], o[t][1] *= corr[0];
        o[t][2] *= corr[1], o[t][3] *= corr[1];
      }
#pragma unroll
      for (int kc = 0; kc < BK / 16; ++kc) {
        uint32_t pa[4];
        mma::c_to_a(pa, s[2 * kc], s[2 * kc + 1]);
#pragma unroll
        for (int t = 0; t < D / 8; t += 2) {
          uint32_t bf[4];
          load_b_cols<D>(bf, tv, ln, kc * 16, t * 8);
          mma16816(o[t], pa, bf[0], bf[1]);
          mma16816(o[t + 1], pa, bf[2], bf[3]);
        }
      }
    }
    cp_async_wait<0>();  // the next tile has landed ...
    __syncthreads();     // ... for every thread, and this one is no longer read
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int i = row_base + 8 * r;
    if (i >= d.L) continue;
    const float inv = 1.0f / sum;
    bf16* dst = out + (int64_t(b * d.L + i) * d.H + h) * D + c2;
#pragma unroll
    for (int t = 0; t < D / 8; ++t)
      *reinterpret_cast<uint32_t*>(dst + t * 8) = pack_bf16(o[t][2 * r] * inv, o[t][2 * r + 1] * inv);
    if ((lane & 3) == 0) lse[int64_t(bh) * d.L + i] = (m[r] + __log2f(sum)) * kLn2;
  }
}

// delta[b, h, i] = Σ_d dout · out over the row (a warp per row).
template <int D>
__global__ void delta_kernel(float* delta, const bf16* dout, const bf16* out, Dims d) {
  const int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);  // token-major: (b*L + i)*H + h
  if (row >= int64_t(d.B) * d.L * d.H) return;
  const int lane = threadIdx.x & 31;
  float s = 0.0f;
  for (int c = lane * 8; c < D; c += 32 * 8) {
    float a[8], o[8];
    unpack(*reinterpret_cast<const Bf16x8*>(dout + row * D + c), a);
    unpack(*reinterpret_cast<const Bf16x8*>(out + row * D + c), o);
#pragma unroll
    for (int e = 0; e < 8; ++e) s += a[e] * o[e];
  }
  s = warp_sum(s);
  const int64_t h = row % d.H, bi = row / d.H, i = bi % d.L, b = bi / d.L;
  if (lane == 0) delta[(b * d.H + h) * d.L + i] = s;
}

template <int D>
struct DkvSmem {
  bf16 k[BK * D];
  bf16 v[BK * D];
  bf16 q[2][BQ2 * D];  // double-buffered: the next query step loads while this one is used
  bf16 dout[2][BQ2 * D];
  float lse[2][BQ2];
  float delta[2][BQ2];
  bf16 ds[BK * BQ2];  // the step's dS^T [key][query], swizzled (ds_at), for the dQ product
};

// Element offset of (key, query) in the dS^T tile: rows of 32 queries, 16-byte chunks XOR-swizzled by
// (key / 2) % 4 so the eight keys one ldmatrix phase reads fall in distinct banks.
__device__ __forceinline__ int ds_at(int key, int query) {
  return key * BQ2 + ((((query >> 3) ^ (key >> 1)) & 3) << 3) + (query & 7);
}

// Query step q0 of the dk/dv block into buffer buf: Q and dO rows, their log-sum-exp (log2 domain) and delta.
template <int D>
__device__ __forceinline__ void stage_query_step(DkvSmem<D>& sm, int buf, const bf16* qb, const bf16* dout,
                                                 const float* lse, const float* delta, int b, int h, int q0,
                                                 const Dims& d) {
  stage<D, BQ2>(sm.q[buf], qb, q0, d.L);
  stage_tokens<D, BQ2>(sm.dout[buf], dout, b, h, q0, d);
  if (threadIdx.x < BQ2) {
    const int i = q0 + threadIdx.x, bh = b * d.H + h;
    sm.lse[buf][threadIdx.x] = i < d.L ? lse[int64_t(bh) * d.L + i] * kLog2e : INFINITY;  // P = 0 past L
    sm.delta[buf][threadIdx.x] = i < d.L ? delta[int64_t(bh) * d.L + i] : 0.0f;
  }
}

// One query step of the dk/dv block for one warp's 16 keys: S^T = K Q^T and dP^T = V dO^T (16 keys x 32
// queries), P^T from the log-sum-exp, dS^T = P^T (dP^T - delta), then dV += P^T dO and dK += dS^T Q.
template <int D>
__device__ __forceinline__ void dkv_step(float (&dk)[D / 8][4], float (&dv)[D / 8][4], DkvSmem<D>& sm,
                                         int buf, int q0, int my_key0, const int (&row_k)[2],
                                         float scale_log2, int lane, const mma::Lanes<D>& ln) {
  const int warp = threadIdx.x >> 5, c2 = (lane & 3) * 2;
  const uint32_t sk = mma::smem_addr(sm.k), sv = mma::smem_addr(sm.v);
  const uint32_t sq = mma::smem_addr(sm.q[buf]), sdo = mma::smem_addr(sm.dout[buf]);
  // S^T = K Q^T and dP^T = V dO^T: 16 keys x 32 queries
  float s[BQ2 / 8][4], dp[BQ2 / 8][4];
#pragma unroll
  for (int t = 0; t < BQ2 / 8; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[t][e] = dp[t][e] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t ka[4], va[4];
    load_a<D>(ka, sk, ln, warp * 16, kk * 16);
    load_a<D>(va, sv, ln, warp * 16, kk * 16);
#pragma unroll
    for (int t = 0; t < BQ2 / 8; t += 2) {
      uint32_t bq[4], bo[4];
      load_b_rows<D>(bq, sq, ln, t * 8, kk * 16);
      load_b_rows<D>(bo, sdo, ln, t * 8, kk * 16);
      mma16816(s[t], ka, bq[0], bq[1]);
      mma16816(s[t + 1], ka, bq[2], bq[3]);
      mma16816(dp[t], va, bo[0], bo[1]);
      mma16816(dp[t + 1], va, bo[2], bo[3]);
    }
  }
  const bool diagonal = q0 < my_key0 + 15;
#pragma unroll
  for (int t = 0; t < BQ2 / 8; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int col = t * 8 + c2 + (e & 1), query = q0 + col;
      const float p =
          diagonal && query < row_k[e >> 1] ? 0.0f : exp2f(s[t][e] * scale_log2 - sm.lse[buf][col]);
      s[t][e] = p;
      dp[t][e] = p * (dp[t][e] - sm.delta[buf][col]);  // dS^T
    }
  {  // dS^T to shared memory, for the block's dQ product (dq_step)
    const int g = lane >> 2;
#pragma unroll
    for (int t = 0; t < BQ2 / 8; ++t)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        *reinterpret_cast<uint32_t*>(sm.ds + ds_at(warp * 16 + g + 8 * r, t * 8 + c2)) =
            pack_bf16(dp[t][2 * r], dp[t][2 * r + 1]);
  }
#pragma unroll
  for (int kc = 0; kc < BQ2 / 16; ++kc) {
    uint32_t pa[4], sa[4];
    mma::c_to_a(pa, s[2 * kc], s[2 * kc + 1]);
    mma::c_to_a(sa, dp[2 * kc], dp[2 * kc + 1]);
#pragma unroll
    for (int t = 0; t < D / 8; t += 2) {
      uint32_t bo[4], bq[4];
      load_b_cols<D>(bo, sdo, ln, kc * 16, t * 8);
      load_b_cols<D>(bq, sq, ln, kc * 16, t * 8);
      mma16816(dv[t], pa, bo[0], bo[1]);
      mma16816(dv[t + 1], pa, bo[2], bo[3]);
      mma16816(dk[t], sa, bq[0], bq[1]);
      mma16816(dk[t + 1], sa, bq[2], bq[3]);
    }
  }
}

// dQ[q0 .. q0 + 31, 32 w .. 32 w + 31] += dS K over the block's 64 keys, for warp w, into fp32 dq_acc
// [B, H, L, D] by atomics (blocks of other key tiles add to the same rows).
template <int D>
__device__ __forceinline__ void dq_step(float* dq_acc, const DkvSmem<D>& sm, int q0, int L, int64_t bh,
                                        const mma::Lanes<D>& ln, int lane) {
  const int warp = threadIdx.x >> 5, g = lane >> 2, c2 = (lane & 3) * 2;
  constexpr int NT = D / 8 / kWarps;  // n8 tiles of d per warp
  float acc[2][NT][4];
#pragma unroll
  for (int rb = 0; rb < 2; ++rb)
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[rb][t][0] = acc[rb][t][1] = acc[rb][t][2] = acc[rb][t][3] = 0.0f;
  const uint32_t sds = mma::smem_addr(sm.ds), sk = mma::smem_addr(sm.k);
  // A = dS (rows queries, k keys) read transposed from dS^T: the lane's key row and query column.
  const int a_key = (lane & 7) + (lane >> 4) * 8, a_q = ((lane >> 3) & 1) * 8;
#pragma unroll
  for (int kc = 0; kc < BK / 16; ++kc) {
    uint32_t a[2][4];
#pragma unroll
    for (int rb = 0; rb < 2; ++rb)
      mma::ldsm4_t(a[rb], sds + uint32_t(ds_at(kc * 16 + a_key, rb * 16 + a_q)) * 2);
#pragma unroll
    for (int t = 0; t < NT; t += 2) {
      uint32_t b[4];
      load_b_cols<D>(b, sk, ln, kc * 16, warp * NT * 8 + t * 8);
#pragma unroll
      for (int rb = 0; rb < 2; ++rb) {
        mma16816(acc[rb][t], a[rb], b[0], b[1]);
        mma16816(acc[rb][t + 1], a[rb], b[2], b[3]);
      }
    }
  }
#pragma unroll
  for (int rb = 0; rb < 2; ++rb)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int query = q0 + rb * 16 + g + 8 * r;
      if (query >= L) continue;
      float* dst = dq_acc + (bh * L + query) * D + warp * NT * 8 + c2;
#pragma unroll
      for (int t = 0; t < NT; ++t)
        atomicAdd(reinterpret_cast<float2*>(dst + t * 8),
                  make_float2(acc[rb][t][2 * r], acc[rb][t][2 * r + 1]));
    }
}

// Writes this query head's fp32 dk and dv rows, dkv [2, B, H, L, D] (dk then dv), and adds its share of dQ to
// dq_acc [B, H, L, D].
template <int D>
__global__ void __launch_bounds__(kThreads)
    dkv_kernel(float* dkv, float* dq_acc, const bf16* dout, const float* lse, const float* delta,
               const bf16* q, const bf16* k, const bf16* v, Dims d) {
  extern __shared__ __align__(128) unsigned char raw[];
  DkvSmem<D>& sm = *reinterpret_cast<DkvSmem<D>*>(raw);
  const int k0 = int(blockIdx.x) * BK;  // tile 0 has the most query tiles and starts first
  const int bh = blockIdx.y, b = bh / d.H, h = bh % d.H, kvh = h / d.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c2 = (lane & 3) * 2;
  const int64_t kv_off = int64_t(b * d.KVH + kvh) * d.L * D;
  const bf16* qb = q + int64_t(bh) * d.L * D;

  stage<D, BK>(sm.k, k + kv_off, k0, d.L);
  stage<D, BK>(sm.v, v + kv_off, k0, d.L);
  stage_query_step<D>(sm, 0, qb, dout, lse, delta, b, h, k0, d);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int t = 0; t < D / 8; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[t][e] = dv[t][e] = 0.0f;
  const int my_key0 = k0 + warp * 16;
  const mma::Lanes<D> ln(lane);
  const int row_k[2] = {my_key0 + g, my_key0 + g + 8};

  for (int q0 = k0, buf = 0; q0 < d.L; q0 += BQ2, buf ^= 1) {
    if (q0 + BQ2 < d.L) stage_query_step<D>(sm, buf ^ 1, qb, dout, lse, delta, b, h, q0 + BQ2, d);
    cp_async_commit();
    if (q0 + BQ2 - 1 >= my_key0) {  // else every query of the step precedes this warp's keys
      dkv_step<D>(dk, dv, sm, buf, q0, my_key0, row_k, d.scale_log2, lane, ln);
    } else {  // ... and its rows of dS^T are zero
      for (int i = lane; i < 16 * BQ2 / 2; i += 32)
        reinterpret_cast<uint32_t*>(sm.ds + warp * 16 * BQ2)[i] = 0u;
    }
    __syncthreads();  // dS^T complete
    dq_step<D>(dq_acc, sm, q0, d.L, bh, ln, lane);
    cp_async_wait<0>();
    __syncthreads();
  }
  const float scale = d.scale_log2 * kLn2;
  const int64_t plane = int64_t(d.B) * d.H * d.L * D;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (row_k[r] >= d.L) continue;
    float* dst = dkv + (int64_t(bh) * d.L + row_k[r]) * D + c2;
#pragma unroll
    for (int t = 0; t < D / 8; ++t) {
      *reinterpret_cast<float2*>(dst + t * 8) = make_float2(dk[t][2 * r] * scale, dk[t][2 * r + 1] * scale);
      *reinterpret_cast<float2*>(dst + plane + t * 8) = make_float2(dv[t][2 * r], dv[t][2 * r + 1]);
    }
  }
}

// out = bf16(scale * in), n even.
__global__ void scale_to_bf16_kernel(bf16* out, const float* in, int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; 2 * i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float2 v = reinterpret_cast<const float2*>(in)[i];
    reinterpret_cast<uint32_t*>(out)[i] = pack_bf16(v.x * scale, v.y * scale);
  }
}

// dk, dv [B, KVH, L, D] = the sum over each group's query heads of dkv [2, B, H, L, D].
__global__ void group_sum_kernel(bf16* dk, bf16* dv, const float* dkv, Dims d, int D) {
  const int64_t n = int64_t(d.B) * d.KVH * d.L * D, plane = int64_t(d.B) * d.H * d.L * D;
  const int64_t head = int64_t(d.L) * D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bk = i / head, within = i % head;  // bk = b * KVH + kvh
    const int64_t b = bk / d.KVH, kvh = bk % d.KVH;
    const float* src = dkv + ((b * d.H + kvh * d.group) * head + within);
    float sk = 0.0f, sv = 0.0f;
    for (int j = 0; j < d.group; ++j) sk += src[j * head], sv += src[plane + j * head];
    dk[i] = __float2bfloat16_rn(sk);
    dv[i] = __float2bfloat16_rn(sv);
  }
}

Dims make_dims(const cpu::AttentionShape& s) {
  Dims d;
  d.B = int(s.B), d.L = int(s.L), d.H = int(s.H), d.KVH = int(s.KVH), d.group = int(s.H / s.KVH);
  d.scale_log2 = s.scale * kLog2e;
  return d;
}

void check(const char* op, const cpu::AttentionShape& s) {
  if (!flash_attention_supports(s))
    throw std::invalid_argument(std::string(op) + ": needs Dk == Dv in {64, 128}, H a multiple of KVH and " +
                                "B*H*L*D below 2^31 (got Dk " + std::to_string(s.Dk) + ", Dv " +
                                std::to_string(s.Dv) + ")");
}

template <int D>
void forward(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const Dims& d,
             cudaStream_t stream) {
  const auto kernel = forward_kernel<D>;
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), int(sizeof(FwdSmem<D>)));
  const dim3 grid(unsigned((d.L + BQ - 1) / BQ), unsigned(d.B * d.H));
  kernel<<<grid, kThreads, sizeof(FwdSmem<D>), stream>>>(out, lse, q, k, v, d);
  R1_CUDA_LAUNCHED();
}

template <int D>
void backward(bf16* dq, bf16* dk, bf16* dv, float* delta, float* dkv, const bf16* dout, const bf16* out,
              const float* lse, const bf16* q, const bf16* k, const bf16* v, const Dims& d,
              cudaStream_t stream) {
  const int64_t rows = int64_t(d.B) * d.L * d.H;
  delta_kernel<D><<<unsigned((rows + kWarps - 1) / kWarps), kThreads, 0, stream>>>(delta, dout, out, d);
  R1_CUDA_LAUNCHED();
  const int64_t nq = int64_t(d.B) * d.H * d.L * D;
  float* dq_acc = dkv + 2 * nq;
  R1_CUDA_CHECK(cudaMemsetAsync(dq_acc, 0, size_t(nq) * 4, stream));
  set_max_dynamic_smem(reinterpret_cast<const void*>(dkv_kernel<D>), int(sizeof(DkvSmem<D>)));
  dkv_kernel<D>
      <<<dim3(unsigned((d.L + BK - 1) / BK), unsigned(d.B * d.H)), kThreads, sizeof(DkvSmem<D>), stream>>>(
          dkv, dq_acc, dout, lse, delta, q, k, v, d);
  R1_CUDA_LAUNCHED();
  scale_to_bf16_kernel<<<unsigned(std::min<int64_t>((nq / 2 + 255) / 256, 1 << 16)), 256, 0, stream>>>(
      dq, dq_acc, nq, d.scale_log2 * kLn2);
  R1_CUDA_LAUNCHED();
  const int64_t n = int64_t(d.B) * d.KVH * d.L * D;
  group_sum_kernel<<<unsigned(std::min<int64_t>((n + 255) / 256, 1 << 16)), 256, 0, stream>>>(dk, dv, dkv, d,
                                                                                              D);
  R1_CUDA_LAUNCHED();
}

size_t align_up(size_t n) {
  return (n + 255) / 256 * 256;
}

}  // namespace

bool flash_attention_supports(const cpu::AttentionShape& s) {
  return s.Dk == s.Dv && (s.Dk == 64 || s.Dk == 128) && s.H > 0 && s.KVH > 0 && s.H % s.KVH == 0 &&
         s.B * s.H * s.L * s.Dk < INT_MAX && s.B * s.H <= 65535;
}

size_t flash_attention_scratch_bytes(const cpu::AttentionShape& s) {
  return align_up(size_t(s.B * s.H * s.L) * sizeof(float)) +
         size_t(3 * s.B * s.H * s.L * s.Dk) * sizeof(float);
}

void flash_attention_forward(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v,
                             const cpu::AttentionShape& s, cudaStream_t stream) {
  check("flash_attention_forward", s);
  if (s.B == 0 || s.L == 0) return;
  const Dims d = make_dims(s);
  if (s.Dk == 64) return forward<64>(out, lse, q, k, v, d, stream);
  forward<128>(out, lse, q, k, v, d, stream);
}

void flash_attention_backward(bf16* dq, bf16* dk, bf16* dv, void* scratch, const bf16* dout, const bf16* out,
                              const float* lse, const bf16* q, const bf16* k, const bf16* v,
                              const cpu::AttentionShape& s, cudaStream_t stream) {
  check("flash_attention_backward", s);
  if (s.B == 0 || s.L == 0) return;
  const Dims d = make_dims(s);
  float* delta = static_cast<float*>(scratch);
  float* dkv = reinterpret_cast<float*>(static_cast<char*>(scratch) + align_up(size_t(s.B * s.H * s.L) * 4));
  if (s.Dk == 64) return backward<64>(dq, dk, dv, delta, dkv, dout, out, lse, q, k, v, d, stream);
  backward<128>(dq, dk, dv, delta, dkv, dout, out, lse, q, k, v, d, stream);
}

}  // namespace r1::cuda
