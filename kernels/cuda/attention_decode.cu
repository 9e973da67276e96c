#include <algorithm>
#include <stdexcept>

#include "attention_decode.h"
#include "cluster.cuh"
#include "decode_ranges.cuh"
#include "device_utils.cuh"
#include "launch.cuh"
#include "mma.cuh"
#include "qkv_rope.cuh"

namespace r1::cuda {
namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32;
constexpr int kSplit = kDecodeSplitKeys;
constexpr int kKeysPerWarp = kSplit / kWarps;  // a lane per key and half of its dims
static_assert(kKeysPerWarp == 16, "two lanes per key in a warp");
constexpr int kMaxGroup = 16;
constexpr int kMaxClusterRanges = kDecodeClusterRanges;
// A key row in shared memory is padded by 16 bytes, so the 8 lanes of one 128-byte phase (8 keys, same
// dims) fall in 8 different bank groups.
constexpr int kPad = 8;
constexpr int kSmemLimit = 200 * 1024;

int32_t splits_for(int32_t max_keys) {
  return std::max<int32_t>(1, (max_keys + kSplit - 1) / kSplit);
}

// Dynamic shared memory, in bytes from its start: the range's key and value rows (bf16); the group's query
// heads, then the new key and value (fp32, formed in place); their probabilities; the rotary row; the range's
// cache blocks; and for the merge, two floats per (query head, range), or in a cluster (one query head) a
// barrier and every range's maximum, sum and value sums.
struct Layout {
  int D, G, splits;
  bool cluster = false;
  __host__ __device__ int v_off() const { return kSplit * (D + kPad) * 2; }
  __host__ __device__ int x_off() const { return v_off() + kSplit * D * 2; }
  __host__ __device__ int p_off() const { return x_off() + (G + 2) * D * 4; }
  __host__ __device__ int cs_off() const { return p_off() + G * kSplit * 4; }
  __host__ __device__ int page_off() const { return cs_off() + D * 4; }
  __host__ __device__ int merge_off() const { return page_off() + kSplit * 4; }
  __host__ __device__ int bar_off() const { return (merge_off() + 7) / 8 * 8; }
  __host__ __device__ int gather_off() const { return bar_off() + 8; }
  __host__ __device__ int total() const {
    return cluster ? gather_off() + splits * (D + 2) * 4 : merge_off() + 2 * G * splits * 4;
  }
};

// grid: (rows, kv_heads * ceil(G / hb), splits): a block serves hb query heads of one KV head's group (all
// of them, or one). kG: hb rounded up to a power of two, so that the per-head registers are sized to it.
// kChained: a launch of few blocks between the matrix-vector kernels of a batch-1 step takes their
// shared-memory carveout (launch_chained); a wide one keeps the default, which fits more blocks. The body
// does not read it: it only makes the two launches distinct functions, as the carveout is set per function.
// kCluster (one query head a block, at most kMaxClusterRanges ranges): the ranges of a (row, head) form a
// cluster, and instead of counting in global memory and reading each other's partials back from it, they
// store them into the first range's shared memory and arrive on its barrier; the first range merges.
template <int kG, bool kChained, bool kCluster = false>
__global__ void __launch_bounds__(kThreads) attention_decode_kernel(const DecodeAttentionArgs a, int hb) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ float red_m[kWarps][kG], red_l[kWarps][kG];
  __shared__ int last;
  allow_next_kernel();
  const QkvRopeArgs& R = a.rope;
  const int64_t r = blockIdx.x;
  const int split = blockIdx.z, splits = int(gridDim.z);
  const int D = R.head_dim, Gt = R.heads / R.kv_heads, BS = R.kv.block_size, half = R.rot_dim / 2;
  // This block's query heads: G of them from head g0 of KV head kvh's group.
  const int chunks = (Gt + hb - 1) / hb, kvh = int(blockIdx.y) / chunks, g0 = (int(blockIdx.y) % chunks) * hb;
  const int G = min(hb, Gt - g0);
  const int64_t q0 = int64_t(kvh) * Gt + g0;  // first query head
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const Layout lay{D, hb, splits, kCluster};
  bf16* ks = reinterpret_cast<bf16*>(smem);
  bf16* vs = reinterpret_cast<bf16*>(smem + lay.v_off());
  float* xs = reinterpret_cast<float*>(smem + lay.x_off());
  float* ps = reinterpret_cast<float*>(smem + lay.p_off());
  float* cs = reinterpret_cast<float*>(smem + lay.cs_off());
  int* pages = reinterpret_cast<int*>(smem + lay.page_off());

  // Before the wait: step inputs, block tables and the cached keys come from the step's input copy and
  // earlier steps, the rotary table and biases are constant; no kernel of this step writes them.
  const int n_keys = a.n_keys[r], seq = a.row_seq[r], pos = R.positions[r], newest = n_keys - 1;
  const int slot = R.slot_of_row[r];
  const int used = (n_keys + kSplit - 1) / kSplit;  // ranges holding keys; the others have nothing to do
  auto* ready = reinterpret_cast<uint64_t*>(smem + lay.bar_off());    // kCluster: the first range's barrier
  float* gather = reinterpret_cast<float*>(smem + lay.gather_off());  // kCluster: [splits][D + 2]
  if constexpr (kCluster) {
    static_assert(kG == 1, "a cluster serves one query head");
    if (split == 0 && tid == 0 && used > 1) gather_barrier_init(ready, uint32_t(used - 1));
    cluster_sync();  // the barrier is set up before any range arrives on it (split is the cluster rank)
  }
  if (split >= used) return;
  const int begin = split * kSplit, n = min(n_keys, begin + kSplit) - begin;
  const int cached = min(n, newest - begin);  // rows read from the cache: all but the new key
  const bool has_new = newest < begin + n;
  const int first_page = begin / BS, n_pages = cached > 0 ? (begin + cached - 1) / BS - first_page + 1 : 0;
  const int32_t* table = a.tables + int64_t(seq) * a.table_stride;
  for (int i = tid; i < n_pages; i += kThreads) pages[i] = table[first_page + i];
  const float* cs_row = R.cos_sin + int64_t(pos) * R.rot_dim;
  for (int i = tid; i < R.rot_dim; i += kThreads) cs[i] = cs_row[i];
  __syncthreads();
  const int pieces = D / 8;
  for (int i = tid; i < cached * pieces; i += kThreads) {
    const int j = begin + i / pieces, c = (i % pieces) * 8;
    const int64_t blk = pages[j / BS - first_page];
    const int64_t off = (int64_t(kvh) * BS + j % BS) * D + c;
    mma::cp_async16(ks + (j - begin) * (D + kPad) + c, R.kv.k_block(R.layer, blk) + off, true);
    mma::cp_async16(vs + (j - begin) * D + c, R.kv.v_block(R.layer, blk) + off, true);
  }
  mma::cp_async_commit();
  wait_for_previous_kernel();

  // The group's query heads, and where this range holds the new key its k and v heads, with bias: slot s
  // of xs is query head s for s < G, then k, then v.
  const int slots = G + (has_new ? 2 : 0);
  const int64_t row_stride = int64_t(R.heads + 2 * R.kv_heads) * D;
  const auto head_of = [&](int s) { return s < G ? q0 + s : int64_t(R.heads) + (s - G) * R.kv_heads + kvh; };
  for (int i = tid; i < slots * pieces; i += kThreads) {
    const int s = i / pieces, c = (i % pieces) * 8;
    const int64_t h = head_of(s);
    float x[8];
    unpack(*reinterpret_cast<const Bf16x8*>(R.qkv + r * row_stride + h * D + c), x);
    if (R.bias) {
      float b[8];
      unpack(*reinterpret_cast<const Bf16x8*>(R.bias + h * D + c), b);
#pragma unroll
      for (int e = 0; e < 8; ++e) x[e] += b[e];
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) xs[s * D + c + e] = x[e];
  }
  __syncthreads();
  // A warp per head: q/k norm, rotary, then bf16 rounding; queries are scaled, k and v go to the cache and
  // to this range's rows.
  for (int s = warp; s < slots; s += kWarps) {
    float* x = xs + s * D;
    const bool is_v = s == G + 1, is_q = s < G;
    const bf16* norm = is_q ? R.q_norm : (is_v ? nullptr : R.k_norm);
    if (norm) {
      float ss = 0;
      for (int d = lane; d < D; d += 32) ss += x[d] * x[d];
      const float inv = rsqrtf(warp_sum(ss) / float(D) + R.eps);
      for (int d = lane; d < D; d += 32) x[d] *= inv * __bfloat162float(norm[d]);
      __syncwarp();
    }
    if (!is_v) {
      for (int i = lane; i < half; i += 32) {
        int i0, i1;
        rope_pair(i, half, R.interleaved, i0, i1);
        const float c = cs[i], sn = cs[half + i], x0 = x[i0], x1 = x[i1];
        x[i0] = x0 * c - x1 * sn;
        x[i1] = x1 * c + x0 * sn;
      }
      __syncwarp();
    }
    if (is_q) {
      for (int d = lane; d < D; d += 32) x[d] = __bfloat162float(__float2bfloat16_rn(x[d])) * a.scale;
    } else {
      bf16* dst = rope_cache_slot_dst(R, slot, int(head_of(s)));
      bf16* row = is_v ? vs + (newest - begin) * D : ks + (newest - begin) * (D + kPad);
      for (int d = lane; d < D; d += 32) {
        const bf16 b = __float2bfloat16_rn(x[d]);
        if (g0 == 0) dst[d] = b;  // one block of the group writes the cache
        row[d] = b;
      }
    }
  }
  mma::cp_async_wait<0>();
  __syncthreads();

  // Scores: lane (key kk, half `part` of the dims), the halves added by one shuffle.
  const int kk = warp * kKeysPerWarp + (lane & 15), part = lane >> 4, hd = D / 2;
  float s[kG];
#pragma unroll
  for (int g = 0; g < kG; ++g) s[g] = 0.0f;
  if (kk < n) {
    const bf16* krow = ks + kk * (D + kPad) + part * hd;
    const float* qrow = xs + part * hd;
    for (int d0 = 0; d0 < hd; d0 += 8) {
      float kf[8];
      unpack(*reinterpret_cast<const Bf16x8*>(krow + d0), kf);
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        const int gc = min(g, G - 1);  // heads past G repeat the last one, so the loads need no branch
        const float4 q0 = *reinterpret_cast<const float4*>(qrow + gc * D + d0);
        const float4 q1 = *reinterpret_cast<const float4*>(qrow + gc * D + d0 + 4);
        s[g] += q0.x * kf[0] + q0.y * kf[1] + q0.z * kf[2] + q0.w * kf[3] + q1.x * kf[4] + q1.y * kf[5] +
                q1.z * kf[6] + q1.w * kf[7];
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    s[g] += __shfl_xor_sync(0xffffffffu, s[g], 16);
    const float m = warp_max(kk < n ? s[g] : -INFINITY);
    if (lane == 0 && g < G) red_m[warp][g] = m;
  }
  __syncthreads();
  // Probabilities against the range's maximum (finite: warp 0 holds at least one key).
  float M[kG];
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    const int gc = min(g, G - 1);
    M[g] = red_m[0][gc];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) M[g] = fmaxf(M[g], red_m[w][gc]);
    const float p = kk < n ? __expf(s[g] - M[g]) : 0.0f;
    if (part == 0 && kk < n && g < G) ps[g * kSplit + kk] = p;
    const float l = warp_sum(part == 0 ? p : 0.0f);
    if (lane == 0 && g < G) red_l[warp][g] = l;
  }
  __syncthreads();
  float Lsum[kG];
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    Lsum[g] = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) Lsum[g] += red_l[w][min(g, G - 1)];
  }
  // P V: a thread per dim, all of the group's heads. With one head, keys j, j + 4, ... go to four sums
  // (added at the end), so the thread's chain of dependent adds is a quarter as long.
  for (int d = tid; d < D; d += kThreads) {
    float acc[kG];
    if constexpr (kG == 1) {
      constexpr int kParts = 4;
      float part[kParts] = {};
      int j = 0;
      for (; j + kParts <= n; j += kParts)
#pragma unroll
        for (int q = 0; q < kParts; ++q)
          part[q] = fmaf(ps[j + q], __bfloat162float(vs[(j + q) * D + d]), part[q]);
      for (; j < n; ++j) part[0] = fmaf(ps[j], __bfloat162float(vs[j * D + d]), part[0]);
      acc[0] = (part[0] + part[1]) + (part[2] + part[3]);
    } else {
#pragma unroll
      for (int g = 0; g < kG; ++g) acc[g] = 0.0f;
#pragma unroll 4
      for (int j = 0; j < n; ++j) {
        const float v = __bfloat162float(vs[j * D + d]);
#pragma unroll
        for (int g = 0; g < kG; ++g) acc[g] = fmaf(ps[min(g, G - 1) * kSplit + j], v, acc[g]);
      }
    }
#pragma unroll
    for (int g = 0; g < kG; ++g) {
      if (g >= G) break;
      const int64_t h = q0 + g;
      if (used == 1) {
        a.out[(r * R.heads + h) * D + d] = __float2bfloat16_rn(acc[g] / Lsum[g]);
      } else if (kCluster) {
        float* p = (split == 0 ? gather : in_block(gather, 0)) + split * (D + 2);
        p[2 + d] = acc[g];
        if (d == 0) {
          p[0] = M[g];
          p[1] = Lsum[g];
        }
      } else {
        float* p = a.partial + ((r * R.heads + h) * splits + split) * (D + 2);
        p[2 + d] = acc[g];
        if (d == 0) {
          p[0] = M[g];
          p[1] = Lsum[g];
        }
      }
    }
  }
  if (used == 1) return;
  if constexpr (kCluster) {
    __syncthreads();  // every thread's stores, before thread 0's release
    if (split != 0) {
      if (tid == 0) gather_arrive(ready, 0);
      return;
    }
    gather_wait(ready);
    __syncthreads();  // this block's own range, stored by all its threads
    float w[kMaxClusterRanges];
    const float total = range_weights<kMaxClusterRanges>(
        used, [&](int sp) { return gather[sp * (D + 2)]; }, [&](int sp) { return gather[sp * (D + 2) + 1]; },
        w);
    for (int d = tid; d < D; d += kThreads) {
      a.out[(r * R.heads + q0) * D + d] = merge_ranges<kMaxClusterRanges>(
          w, total, [&](int sp) { return sp < used ? gather[sp * (D + 2) + 2 + d] : 0.0f; });
    }
    return;
  }

  // The last range of this (row, KV head) to finish merges them all and leaves the counter at zero.
  // The barrier orders every thread's partial before thread 0's fence, which publishes them all (fences
  // are cumulative) before its count.
  __syncthreads();
  int32_t* counter = a.counters + r * R.heads + q0;
  if (tid == 0) {
    __threadfence();
    last = atomicAdd(counter, 1) == used - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  const auto part_of = [&](int g, int sp) {
    return a.partial + ((r * R.heads + q0 + g) * splits + sp) * (D + 2);
  };
  constexpr int kPre = kMaxClusterRanges;  // the same merge, in the same order, as a cluster's
  if constexpr (kG == 1) {
    if (used <= kPre) {
      // One head and few ranges: every thread reads the ranges' maxima and sums itself, with its dims'
      // sums, in one round trip to L2, and merges them in registers, with no barrier.
      constexpr int kDims = kRopeMaxHeadDim / kThreads;
      float top_of[kPre], sum_of[kPre], v[kDims][kPre];
#pragma unroll
      for (int sp = 0; sp < kPre; ++sp) {
        const float* p = part_of(0, sp);
        top_of[sp] = sp < used ? __ldcg(p) : -INFINITY;
        sum_of[sp] = sp < used ? __ldcg(p + 1) : 0.0f;
#pragma unroll
        for (int j = 0; j < kDims; ++j) {
          const int d = tid + j * kThreads;
          v[j][sp] = sp < used && d < D ? __ldcg(p + 2 + d) : 0.0f;
        }
      }
      float w[kPre];
      const float total = range_weights<kPre>(
          used, [&](int sp) { return top_of[sp]; }, [&](int sp) { return sum_of[sp]; }, w);
#pragma unroll
      for (int j = 0; j < kDims; ++j) {
        const int d = tid + j * kThreads;
        if (d < D)
          a.out[(r * R.heads + q0) * D + d] = merge_ranges<kPre>(w, total, [&](int sp) { return v[j][sp]; });
      }
      if (tid == 0) *counter = 0;
      return;
    }
  }
  float* mm = reinterpret_cast<float*>(smem + lay.merge_off());  // [G][used] maxima, then weights
  float* ll = mm + G * used;                                     // [G][used] sums
  for (int i = tid; i < G * used; i += kThreads) {
    const float* p = part_of(i / used, i % used);
    mm[i] = __ldcg(p);
    ll[i] = __ldcg(p + 1);
  }
  __syncthreads();
  for (int g = warp; g < G; g += kWarps) {
    float top = -INFINITY, total = 0.0f;
    for (int sp = lane; sp < used; sp += 32) top = fmaxf(top, mm[g * used + sp]);
    top = warp_max(top);
    for (int sp = lane; sp < used; sp += 32) total += ll[g * used + sp] * __expf(mm[g * used + sp] - top);
    total = warp_sum(total);
    for (int sp = lane; sp < used; sp += 32) mm[g * used + sp] = __expf(mm[g * used + sp] - top) / total;
  }
  __syncthreads();
  for (int d = tid; d < D; d += kThreads) {
    float acc[kG];
#pragma unroll
    for (int g = 0; g < kG; ++g) acc[g] = 0.0f;
#pragma unroll 2
    for (int sp = 0; sp < used; ++sp)
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        const int gc = min(g, G - 1);
        acc[g] = fmaf(mm[gc * used + sp], __ldcg(part_of(gc, sp) + 2 + d), acc[g]);
      }
#pragma unroll
    for (int g = 0; g < kG; ++g) {
      if (g >= G) break;
      a.out[(r * R.heads + q0 + g) * D + d] = __float2bfloat16_rn(acc[g]);
    }
  }
  if (tid == 0) *counter = 0;
}

// A launch of few blocks (a block per query head) over at most kMaxClusterRanges ranges, each (row, head) in
// one cluster.
void launch_clusters(const DecodeAttentionArgs& a, int splits, cudaStream_t stream) {
  auto* kernel = attention_decode_kernel<1, true, true>;
  const int smem = Layout{a.rope.head_dim, 1, splits, true}.total();
  set_max_dynamic_smem(reinterpret_cast<const void*>(kernel), kSmemLimit);
  set_chained_carveout(reinterpret_cast<const void*>(kernel));
  const dim3 grid(unsigned(a.rope.T), unsigned(a.rope.heads), unsigned(splits));
  launch_dependent_clusters(kernel, grid, dim3(kThreads), size_t(smem), unsigned(splits), stream, a, 1);
}

template <int kG, bool kChained>
void launch(const DecodeAttentionArgs& a, int hb, int smem, cudaStream_t stream) {
  set_max_dynamic_smem(reinterpret_cast<const void*>(attention_decode_kernel<kG, kChained>), kSmemLimit);
  const int G = a.rope.heads / a.rope.kv_heads, chunks = (G + hb - 1) / hb;
  const dim3 grid(unsigned(a.rope.T), unsigned(a.rope.kv_heads * chunks), unsigned(splits_for(a.max_keys)));
  if constexpr (kChained)
    launch_chained(attention_decode_kernel<kG, kChained>, grid, dim3(kThreads), size_t(smem), stream, a, hb);
  else
    launch_dependent(attention_decode_kernel<kG, kChained>, grid, dim3(kThreads), size_t(smem), stream, a,
                     hb);
}

}  // namespace

bool attention_decode_supports(int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t max_keys) {
  return kv_heads > 0 && heads % kv_heads == 0 && heads / kv_heads <= kMaxGroup && head_dim % 16 == 0 &&
         head_dim >= 16 && head_dim <= kRopeMaxHeadDim &&
         Layout{head_dim, heads / kv_heads, splits_for(max_keys)}.total() <= kSmemLimit;
}

int64_t attention_decode_partial_floats(int64_t rows, int32_t heads, int32_t head_dim, int32_t max_keys) {
  const int32_t s = splits_for(max_keys);
  return s == 1 ? 0 : rows * heads * s * int64_t(head_dim + 2);
}

int64_t attention_decode_counters(int64_t rows, int32_t heads) {
  return rows * heads;
}

void attention_decode(const DecodeAttentionArgs& a, cudaStream_t stream) {
  const QkvRopeArgs& R = a.rope;
  if (!attention_decode_supports(R.heads, R.kv_heads, R.head_dim, a.max_keys))
    throw std::invalid_argument(
        "attention_decode: head_dim must be a multiple of 16 up to 256, with at most 16 query heads per KV "
        "head, and the merge state for max_keys within shared memory");
  if (R.rot_dim > R.head_dim || R.rot_dim % 2)
    throw std::invalid_argument("attention_decode: rot_dim must be even and at most head_dim");
  if (R.T <= 0) return;
  if (splits_for(a.max_keys) > 1 && (!a.partial || !a.counters))
    throw std::invalid_argument(
        "attention_decode: more than one key range needs the partial and counter buffers");
  // Whole groups per block read each key and value row once; with few blocks (batch-1 decode) a block per
  // query head shortens each block's work, which is what a step waits on.
  const int G = R.heads / R.kv_heads, splits = splits_for(a.max_keys);
  const bool few = R.T * R.kv_heads * splits < 2 * sm_count();
  const int hb = few ? 1 : G;
  const int smem = Layout{R.head_dim, hb, splits}.total();
  // Few blocks over at most kMaxClusterRanges ranges merge them in a cluster. Batch-1 decode of the 1.5B
  // shape on the H200 (5 ranges), same call: 895-903 tok/s against 870-875 counting in global memory. An
  // earlier measurement lost with the graph sized for 4 096 keys (8 clusters a head, merged in two stages),
  // so longer contexts keep the global count.
  if (few && splits > 1 && splits <= kMaxClusterRanges) return launch_clusters(a, splits, stream);
  if (few) return launch<1, true>(a, hb, smem, stream);
  if (hb <= 1) return launch<1, false>(a, hb, smem, stream);
  if (hb <= 2) return launch<2, false>(a, hb, smem, stream);
  if (hb <= 4) return launch<4, false>(a, hb, smem, stream);
  if (hb <= 8) return launch<8, false>(a, hb, smem, stream);
  return launch<16, false>(a, hb, smem, stream);
}

}  // namespace r1::cuda
