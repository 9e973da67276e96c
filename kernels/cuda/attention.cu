#include <stdexcept>

#include "attention.h"
#include "device_utils.cuh"
#include "launch.cuh"

namespace r1::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxDim = 256;
constexpr int kMaxGroup = 8;    // query heads per block; larger groups take several blocks
constexpr int kKeyLoads = 8;    // 16-byte loads of a key row in flight per lane
constexpr int kValueLoads = 8;  // value rows in flight per lane

// grid: (rows, kv_heads * group_chunks, splits). A block serves up to kMaxGroup query heads that share one
// KV head, so each key and value row is read once for the whole group. Each warp scores 32 keys at once
// (a lane per key, the full dot products per lane), then accumulates P·V with 16-byte loads, several keys
// per step; the 4 warps' partial softmax states are merged through shared memory.
// kGroup: query heads per block, a template parameter so registers and shared memory are sized to it (batch-1
// decode runs one head per block).
template <int kGroup>
__global__ void __launch_bounds__(kWarps * 32)
    attention_split_kernel(const AttentionArgs a, int group, int chunks, int splits) {
  constexpr int per_block = kGroup;
  constexpr int kPrefetch = kGroup <= 2 ? 2 * kValueLoads : kValueLoads;
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t r = blockIdx.x;
  const int kvh = blockIdx.y / chunks, g0 = (blockIdx.y % chunks) * per_block, split = blockIdx.z;
  const int G = min(per_block, group - g0);
  const int h0 = kvh * group + g0;  // first query head of this block
  const int D = a.kv.head_dim, BS = a.kv.block_size;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n_keys = a.n_keys[r];
  const int begin = split * kAttentionKeysPerSplit, end = min(n_keys, begin + kAttentionKeysPerSplit);
  const int32_t* table = a.tables + int64_t(a.row_seq[r]) * a.table_stride;
  __shared__ float qs[kGroup][kMaxDim];
  __shared__ float s_ml[kWarps][kGroup][2];
  __shared__ float s_o[kWarps][kGroup][kMaxDim];
  for (int i = threadIdx.x; i < G * D; i += kWarps * 32)
    qs[i / D][i % D] = __bfloat162float(a.q[(r * a.heads + h0 + i / D) * D + i % D]) * a.scale;
  __syncthreads();
  // P·V layout: D/8 lanes cover one key's value row with 16-byte loads, 32/(D/8) keys per step.
  const int lanes_per_key = D / 8, keys_per_step = 32 / lanes_per_key;
  const int slot = lane / lanes_per_key, chunk = lane % lanes_per_key;
  float m[kGroup], l[kGroup], o[kGroup][8];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) o[g][e] = 0.0f;
  }
  for (int j0 = begin + warp * 32; j0 < end; j0 += kWarps * 32) {
    const int j = j0 + lane;
    float s[kGroup];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) s[g] = 0.0f;
    const bf16* vrow = nullptr;
    const bf16* krow = nullptr;
    if (j < end) {
      const int64_t block = table[j / BS];
      const int64_t off = (int64_t(kvh) * BS + j % BS) * D;
      krow = a.kv.k_block(a.layer, block) + off;
      vrow = a.kv.v_block(a.layer, block) + off;
    }
    const int n = min(32, end - j0);
    // This lane's 16 bytes of the value row of key t (of the warp's 32), and their P-weighted sum into o.
    const auto load_value = [&](int t, Bf16x8& v) {
      const unsigned long long vp =
          __shfl_sync(0xffffffffu, reinterpret_cast<unsigned long long>(vrow), t & 31);
      if (t < n) v = *reinterpret_cast<const Bf16x8*>(reinterpret_cast<const bf16*>(vp) + chunk * 8);
    };
    const auto add_value = [&](int t, const Bf16x8& v, const float(&pw)[kGroup]) {
      float vf[8];
      unpack(v, vf);
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        if (g >= G) break;
        const float pt = __shfl_sync(0xffffffffu, pw[g], t & 31);
        if (t < n)
#pragma unroll
          for (int e = 0; e < 8; ++e) o[g][e] = fmaf(pt, vf[e], o[g][e]);
      }
    };
    // The first kPrefetch steps of value rows are requested now, with the keys, so that P·V does not wait
    // a second memory round trip after the scores.
    Bf16x8 vpre[kPrefetch];
#pragma unroll
    for (int u = 0; u < kPrefetch; ++u) load_value(u * keys_per_step + slot, vpre[u]);
    if (j < end) {
      // The key row in pieces of kKeyLoads 16-byte loads, all requested before the first multiply.
      for (int d0 = 0; d0 < D; d0 += kKeyLoads * 8) {
        Bf16x8 kv[kKeyLoads];
#pragma unroll
        for (int u = 0; u < kKeyLoads; ++u)
          if (d0 + u * 8 < D) kv[u] = *reinterpret_cast<const Bf16x8*>(krow + d0 + u * 8);
#pragma unroll
        for (int u = 0; u < kKeyLoads; ++u) {
          if (d0 + u * 8 >= D) break;
          float kf[8];
          unpack(kv[u], kf);
#pragma unroll
          for (int g = 0; g < kGroup; ++g) {
            if (g >= G) break;
#pragma unroll
            for (int e = 0; e < 8; ++e) s[g] = fmaf(qs[g][d0 + u * 8 + e], kf[e], s[g]);
          }
        }
      }
    }
    float p[kGroup], corr[kGroup];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      if (g >= G) break;
      const float sg = j < end ? s[g] : -INFINITY;
      const float m_new = fmaxf(m[g], warp_max(sg));
      corr[g] = __expf(m[g] - m_new);
      p[g] = j < end ? __expf(sg - m_new) : 0.0f;
      l[g] = l[g] * corr[g] + warp_sum(p[g]);
      m[g] = m_new;
#pragma unroll
      for (int e = 0; e < 8; ++e) o[g][e] *= corr[g];
    }
#pragma unroll
    for (int u = 0; u < kPrefetch; ++u) add_value(u * keys_per_step + slot, vpre[u], p);
    // The rest of the value rows kValueLoads steps at a time, their loads all requested before the first
    // multiply.
    for (int t0 = kPrefetch * keys_per_step; t0 < n; t0 += keys_per_step * kValueLoads) {
      Bf16x8 vv[kValueLoads];
#pragma unroll
      for (int u = 0; u < kValueLoads; ++u) load_value(t0 + u * keys_per_step + slot, vv[u]);
#pragma unroll
      for (int u = 0; u < kValueLoads; ++u) add_value(t0 + u * keys_per_step + slot, vv[u], p);
    }
  }
  // Lanes holding the same dims for different keys add up.
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    if (g >= G) break;
    for (int off = lanes_per_key; off < 32; off <<= 1)
#pragma unroll
      for (int e = 0; e < 8; ++e) o[g][e] += __shfl_xor_sync(0xffffffffu, o[g][e], off);
    if (lane == 0) {
      s_ml[warp][g][0] = m[g];
      s_ml[warp][g][1] = l[g];
    }
    if (slot == 0)
#pragma unroll
      for (int e = 0; e < 8; ++e) s_o[warp][g][chunk * 8 + e] = o[g][e];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += kWarps * 32) {
    const int g = i / D, d = i % D;
    float mm = -INFINITY;
    for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, s_ml[w][g][0]);
    float ll = 0, acc = 0;
    if (mm != -INFINITY) {
      for (int w = 0; w < kWarps; ++w) {
        const float c = __expf(s_ml[w][g][0] - mm);
        ll += s_ml[w][g][1] * c;
        acc += s_o[w][g][d] * c;
      }
    }
    const int64_t h = h0 + g;
    if (splits == 1) {
      a.out[(r * a.heads + h) * D + d] = __float2bfloat16_rn(ll > 0 ? acc / ll : 0.0f);
    } else {
      float* part = a.partial + ((r * a.heads + h) * splits + split) * (D + 2);
      part[2 + d] = acc;
      if (d == 0) {
        part[0] = mm;
        part[1] = ll;
      }
    }
  }
}

__global__ void attention_combine_kernel(const AttentionArgs a, int splits) {
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t rh = blockIdx.x;  // row * heads + head
  const int D = a.kv.head_dim;
  merge_key_ranges<false>(a.partial + rh * splits * (D + 2), splits, D, a.out + rh * D);
}

}  // namespace

int32_t attention_splits(int32_t max_keys) {
  return std::max<int32_t>(1, (max_keys + kAttentionKeysPerSplit - 1) / kAttentionKeysPerSplit);
}

int64_t attention_partial_floats(int64_t rows, int32_t heads, int32_t head_dim, int32_t max_keys) {
  const int32_t s = attention_splits(max_keys);
  return s == 1 ? 0 : rows * heads * s * int64_t(head_dim + 2);
}

void attention_paged(const AttentionArgs& a, cudaStream_t stream) {
  const int D = a.kv.head_dim;
  if (D > kMaxDim || D % 8 || (32 % (D / 8)) != 0)
    throw std::invalid_argument("attention_paged: head_dim must be 8, 16, 32, 64, 128 or 256");
  if (a.heads % a.kv.kv_heads)
    throw std::invalid_argument("attention_paged: heads must be a multiple of kv_heads");
  if (a.rows <= 0) return;
  const int splits = attention_splits(a.max_keys);
  if (splits > 1 && !a.partial)
    throw std::invalid_argument("attention_paged: split-K needs the partial buffer");
  // Whole groups per block read each K/V row once; with few rows (batch-1 decode) smaller pieces of the
  // group keep more of the chip busy.
  const int sms = sm_count();
  const int group = a.heads / a.kv.kv_heads;
  int per_block = kMaxGroup;
  const auto blocks = [&](int pb) { return a.rows * a.kv.kv_heads * ((group + pb - 1) / pb) * splits; };
  while (per_block > 1 && blocks(per_block) < 2 * sms) per_block /= 2;
  const int chunks = (group + per_block - 1) / per_block;
  const dim3 grid(unsigned(a.rows), unsigned(a.kv.kv_heads * chunks), unsigned(splits));
  switch (per_block) {
    case 8:
      launch_chained(attention_split_kernel<8>, grid, dim3(kWarps * 32), 0, stream, a, group, chunks, splits);
      break;
    case 4:
      launch_chained(attention_split_kernel<4>, grid, dim3(kWarps * 32), 0, stream, a, group, chunks, splits);
      break;
    case 2:
      launch_chained(attention_split_kernel<2>, grid, dim3(kWarps * 32), 0, stream, a, group, chunks, splits);
      break;
    default:
      launch_chained(attention_split_kernel<1>, grid, dim3(kWarps * 32), 0, stream, a, group, chunks, splits);
  }
  if (splits > 1) {
    launch_chained(attention_combine_kernel, dim3(unsigned(a.rows * a.heads)), dim3(128), 0, stream, a,
                   splits);
  }
}

}  // namespace r1::cuda
