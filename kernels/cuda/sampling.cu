#include <algorithm>

#include "arg_best.h"
#include "device_utils.cuh"
#include "launch.cuh"
#include "sampling.h"

namespace r1::cuda {
namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ uint4 philox(uint4 c, uint2 k) {
#pragma unroll
  for (int i = 0; i < 10; ++i) {
    const uint32_t lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
    const uint32_t lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
    c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k.x += 0x9E3779B9u;
    k.y += 0xBB67AE85u;
  }
  return c;
}

__device__ __forceinline__ float gumbel(uint32_t index, uint2 key) {
  const uint32_t bits = philox(make_uint4(index, 0x5eed5eedu, 0, 0), key).x;
  const float u = (float(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
  return -__logf(-__logf(u));
}

// Radix selection from the top: the threshold key such that the elements at or above it reach `target`
// (a count when MASS is false, a probability mass exp(z - zmax) when true), among elements >= floor_key.
// Each warp fills its own histogram (logits crowd into a few bins, so one shared histogram would
// serialise every atomic); the warps' histograms are then summed.
template <bool MASS>
__device__ uint32_t radix_threshold(const float* z, int64_t vocab, float zmax, uint32_t floor_key,
                                    float target, float (*hist)[256]) {
  uint32_t prefix = 0, mask = 0;
  const int warp = threadIdx.x >> 5;
  __shared__ uint32_t chosen;
  __shared__ float remaining;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 32 * 256; b += kThreads) hist[b / 256][b % 256] = 0.0f;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
      const uint32_t k = order_key(z[i]);
      if (k >= floor_key && (k & mask) == prefix)
        atomicAdd(&hist[warp][(k >> shift) & 255u], MASS ? __expf(z[i] - zmax) : 1.0f);
    }
    __syncthreads();
    if (threadIdx.x < 256) {
      float t = 0;
      for (int w = 0; w < 32; ++w) t += hist[w][threadIdx.x];
      hist[0][threadIdx.x] = t;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // The highest bin where the total from the top reaches the target (bin 0 if none does), found by
      // warp 0 with 8 bins a lane: the lanes' totals are summed from the top with shuffles.
      const int lane = threadIdx.x;
      float v[8], mine = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) mine += v[j] = hist[0][lane * 8 + j];
      float from_top = mine;  // bins lane * 8 .. 255
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const float t = __shfl_down_sync(0xffffffffu, from_top, o);
        if (lane + o < 32) from_top += t;
      }
      int found = 0;
      float cum = from_top - mine;  // bins above this lane's
#pragma unroll
      for (int j = 7; j >= 0; --j) {
        if (found == 0 && lane * 8 + j > 0 && cum + v[j] >= target) found = lane * 8 + j;
        cum += v[j];
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) found = max(found, __shfl_xor_sync(0xffffffffu, found, o));
      // What is left of the target below the bins above the chosen one.
      if (lane == found / 8) {
        float above = from_top - mine;
        for (int j = 7; j > found % 8; --j) above += v[j];
        chosen = uint32_t(found);
        remaining = target - above;
      }
    }
    __syncthreads();
    prefix |= chosen << shift;
    mask |= 255u << shift;
    target = remaining;
    __syncthreads();
  }
  return prefix;
}

// Calls f(i, z[i]) for every i < vocab, spread over the block: four values per 16-byte load and four loads
// issued before the first is used, so a sweep of a 151 936-entry row costs a few memory round trips, not one
// per value. With kWrite, what f leaves in its reference is stored back to z[i].
template <bool kWrite = false, typename F>
__device__ __forceinline__ void sweep(float* z, int64_t vocab, F&& f) {
  constexpr int kUnroll = 4;
  const bool vec = vocab % 4 == 0 && reinterpret_cast<uintptr_t>(z) % 16 == 0;
  const int64_t n4 = vec ? vocab / 4 : 0;
  auto* z4 = reinterpret_cast<float4*>(z);
  for (int64_t i0 = threadIdx.x; i0 < n4; i0 += kUnroll * kThreads) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (i0 + u * kThreads < n4) v[u] = z4[i0 + u * kThreads];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = i0 + u * kThreads;
      if (i >= n4) continue;
      float4 w = v[u];
      f(4 * i, w.x);
      f(4 * i + 1, w.y);
      f(4 * i + 2, w.z);
      f(4 * i + 3, w.w);
      if (kWrite) z4[i] = w;
    }
  }
  for (int64_t i = 4 * n4 + threadIdx.x; i < vocab; i += kThreads) {
    float v = z[i];
    f(i, v);
    if (kWrite) z[i] = v;
  }
}

// The maximum and the softmax denominator sum(exp(z - max)) of a row in one pass (each thread keeps a
// running pair, rescaling its sum when its maximum moves), then combined over the block.
struct SoftmaxStats {
  float max = -INFINITY, sum = 0.0f;

  __device__ void add(float v) {
    if (v > max) {
      sum = sum * __expf(max - v) + 1.0f;
      max = v;
    } else if (v > -INFINITY) {
      sum += __expf(v - max);
    }
  }
  __device__ void merge(SoftmaxStats o) {
    const float m = fmaxf(max, o.max);
    if (m == -INFINITY) return;
    sum = (max > -INFINITY ? sum * __expf(max - m) : 0.0f) +
          (o.max > -INFINITY ? o.sum * __expf(o.max - m) : 0.0f);
    max = m;
  }
};

__device__ SoftmaxStats block_softmax_stats(SoftmaxStats v, float2* scratch) {
  const auto warp_merge = [](SoftmaxStats x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      x.merge({__shfl_xor_sync(0xffffffffu, x.max, o), __shfl_xor_sync(0xffffffffu, x.sum, o)});
    return x;
  };
  v = warp_merge(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = make_float2(v.max, v.sum);
  __syncthreads();
  const float2 w = scratch[lane < kThreads / 32 ? lane : 0];
  return warp_merge({w.x, w.y});
}

// Whether top-k cuts the row (0, or a k of the whole vocabulary, keeps every token).
__device__ __forceinline__ bool uses_top_k(const RowSampling& p, int64_t vocab) {
  return p.top_k > 0 && p.top_k < vocab;
}

// Top-k / top-p over a short list: the tokens within kWindow nats of the maximum are copied to shared
// memory (a ballot per warp, one atomic per warp that keeps any), and when they hold the top k, or for
// top-p alone the probability mass top-p needs, the thresholds and the draw are worked out among them alone.
// Every other token lies below all of them, so the thresholds, and the token drawn, are those of the whole
// row. A row with more than kCandidates such tokens (a flat distribution), or too few, returns false and
// takes the full path.
constexpr float kWindow = 12.0f;
constexpr int kCandidates = 4096;

struct Candidates {
  float z[kCandidates];
  int32_t index[kCandidates];
  int n;
};

__device__ bool gather_candidates(float* z, int64_t vocab, float zmax, float total, const RowSampling& p,
                                  Candidates& c) {
  const int lane = threadIdx.x & 31;
  if (threadIdx.x == 0) c.n = 0;
  __syncthreads();
  const float floor = zmax - kWindow;
  sweep(z, vocab, [&](int64_t i, float& v) {
    // Once the list has overflowed the row takes the full path: stop adding (and contending for the count).
    const bool take = v > floor && *static_cast<volatile int*>(&c.n) <= kCandidates;
    const unsigned active = __activemask(), taking = __ballot_sync(active, take);
    if (!taking) return;
    const int leader = __ffs(taking) - 1;
    int base = 0;
    if (lane == leader) base = atomicAdd(&c.n, __popc(taking));
    base = __shfl_sync(active, base, leader);
    const int slot = base + __popc(taking & ((1u << lane) - 1u));
    if (take && slot < kCandidates) {
      c.z[slot] = v;
      c.index[slot] = int32_t(i);
    }
  });
  __syncthreads();
  const int n = c.n;
  if (n == 0 || n > kCandidates) return false;    // none: the row has no finite maximum
  if (uses_top_k(p, vocab)) return n >= p.top_k;  // top-p then keeps a part of the top k
  float local = 0;
  for (int j = threadIdx.x; j < n; j += kThreads) local += __expf(c.z[j] - zmax);
  const float mass = block_sum(local);
  return mass >= p.top_p * total * 1.0001f;  // a margin for the order the sums are taken in
}

// Exclusive prefix sum over the block (every thread's v from thread 0 on); `total` gets the whole sum.
__device__ float block_exclusive_scan(float v, float* scratch, float& total) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float inc = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const float t = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += t;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    float w = lane < kThreads / 32 ? scratch[lane] : 0.0f;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float t = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += t;
    }
    scratch[lane] = w;  // inclusive over the warps
  }
  __syncthreads();
  total = scratch[kThreads / 32 - 1];
  return (warp > 0 ? scratch[warp - 1] : 0.0f) + inc - v;
}

// The full path's draw (a flat row, where the kept tokens may be most of the vocabulary): the token where the
// kept tokens' cumulative probability passes a uniform draw, counted thread by thread, each thread's values
// in the order sweep() hands them to it (any fixed order gives an exact draw). Each thread sums its kept
// mass, the sums are scanned over the block, and the thread whose part holds the target counts through it
// again. That is two sweeps of the row and one random number, where a Gumbel draw spent a 10-round generator
// per kept token, one multiprocessor doing them all.
__device__ int32_t draw_by_mass(float* z, int64_t vocab, float zmax, uint32_t floor_key, uint2 key,
                                float* scratch) {
  __shared__ int32_t claimed_by, last_holder, token;
  float local = 0.0f;
  int32_t last = -1;  // this thread's last kept token
  sweep(z, vocab, [&](int64_t i, float& v) {
    if (order_key(v) >= floor_key) local += __expf(v - zmax), last = int32_t(i);
  });
  if (threadIdx.x == 0) claimed_by = INT32_MAX, last_holder = -1, token = 0;
  float total;
  const float before = block_exclusive_scan(local, scratch, total);
  if (last >= 0) atomicMax(&last_holder, int32_t(threadIdx.x));
  const uint32_t bits = philox(make_uint4(0xffffffffu, 0x5eed5eedu, 1u, 0u), key).x;  // no token's counter
  const float target = (float(bits >> 8) + 0.5f) * (1.0f / 16777216.0f) * total;
  int32_t at = last;
  if (local > 0.0f && before <= target && target < before + local) {
    // Rounding may let a neighbouring thread claim the target too: the lowest wins.
    float cum = before;
    bool found = false;
    sweep(z, vocab, [&](int64_t i, float& v) {
      if (found || order_key(v) < floor_key) return;
      cum += __expf(v - zmax);
      if (cum > target) at = int32_t(i), found = true;
    });
    atomicMin(&claimed_by, int32_t(threadIdx.x));
  }
  __syncthreads();
  // When no thread claimed the target (rounding at the very top), the last kept token in the order counted.
  if (int32_t(threadIdx.x) == (claimed_by != INT32_MAX ? claimed_by : last_holder)) token = at;
  __syncthreads();
  return token;
}

// The lowest order key a token may have to be drawn: top-k, then top-p among what top-k keeps, then min-p,
// over the n values of z (a whole row, or a short list holding every token that can qualify). total: the
// row's softmax denominator (relative to zmax), used when top-k does not apply.
__device__ uint32_t floor_key_of(const float* z, int64_t n, float zmax, float total, const RowSampling& p,
                                 int64_t vocab, float (*hist)[256]) {
  uint32_t floor_key = 0;
  if (uses_top_k(p, vocab)) floor_key = radix_threshold<false>(z, n, zmax, 0, float(p.top_k), hist);
  if (p.top_p < 1.0f) {
    if (floor_key > 0) {
      float local = 0;
      for (int64_t i = threadIdx.x; i < n; i += kThreads)
        if (order_key(z[i]) >= floor_key) local += __expf(z[i] - zmax);
      total = block_sum(local);
    }
    floor_key = max(floor_key, radix_threshold<true>(z, n, zmax, floor_key, p.top_p * total, hist));
  }
  if (p.min_p > 0.0f) floor_key = max(floor_key, order_key(zmax + __logf(p.min_p)));
  // The top token always qualifies, whatever rounding did to the thresholds.
  return min(floor_key, order_key(zmax));
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(float* logits, int64_t vocab, const RowSampling* params, int32_t* tokens,
                  const ArgBest* bests, int32_t n_bests, int32_t* tokens_copy) {
  extern __shared__ __align__(16) uint32_t dynamic[];  // the penalty's vocabulary bits, then the short list
  __shared__ float2 scratch_2[32];
  __shared__ ArgBest scratch_a[32];
  __shared__ float hist[32][256];
  allow_next_kernel();
  const RowSampling p = params[blockIdx.x];  // no kernel writes these: read before the wait
  wait_for_previous_kernel();
  const auto put = [&](int32_t token) {
    tokens[blockIdx.x] = token;
    if (tokens_copy) tokens_copy[blockIdx.x] = token;
  };
  float* z = logits + int64_t(blockIdx.x) * vocab;

  const bool penalized = p.repetition_penalty != 1.0f && p.history_len > 0;
  if (penalized) {
    uint32_t* seen = dynamic;
    const int64_t words = (vocab + 31) / 32;
    for (int64_t w = threadIdx.x; w < words; w += kThreads) seen[w] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < p.history_len; i += kThreads) {
      const int32_t id = p.history[i];
      if (id >= 0 && id < vocab) atomicOr(&seen[id >> 5], 1u << (id & 31));
    }
    __syncthreads();
    for (int i = threadIdx.x; i < p.history_len; i += kThreads) {
      const int32_t id = p.history[i];
      if (id < 0 || id >= vocab) continue;
      const uint32_t bit = 1u << (id & 31);
      if (atomicAnd(&seen[id >> 5], ~bit) & bit) {  // the first thread to clear the bit applies the penalty
        const float l = z[id];
        z[id] = l < 0 ? l * p.repetition_penalty : l / p.repetition_penalty;
      }
    }
    __syncthreads();
  }

  if (p.temperature == 0.0f) {
    ArgBest best{-INFINITY, 0};
    if (bests && !penalized) {  // the logits' producer left its blocks' best: one round trip, not a sweep
      for (int i = threadIdx.x; i < n_bests; i += kThreads) best = better(best, bests[i]);
    } else {
      sweep(z, vocab, [&](int64_t i, float& v) { best = better(best, ArgBest{v, int32_t(i)}); });
    }
    best = block_best(best, scratch_a);
    if (threadIdx.x == 0) put(best.index);
    return;
  }

  const float inv_t = 1.0f / p.temperature;
  SoftmaxStats stats;
  sweep<true>(z, vocab, [&](int64_t, float& v) {
    v *= inv_t;
    stats.add(v);
  });
  stats = block_softmax_stats(stats, scratch_2);
  const float zmax = stats.max;

  const uint2 key = make_uint2(p.key_lo, p.key_hi);
  auto& c = *reinterpret_cast<Candidates*>(dynamic);
  const bool truncated = uses_top_k(p, vocab) || p.top_p < 1.0f;
  int32_t token;
  if (truncated && gather_candidates(z, vocab, zmax, stats.sum, p, c)) {
    const uint32_t floor_key = floor_key_of(c.z, c.n, zmax, stats.sum, p, vocab, hist);
    ArgBest best{-INFINITY, 0};
    for (int j = threadIdx.x; j < c.n; j += kThreads)
      if (order_key(c.z[j]) >= floor_key)
        best = better(best, ArgBest{c.z[j] + gumbel(uint32_t(c.index[j]), key), c.index[j]});
    token = block_best(best, scratch_a).index;
  } else {
    const uint32_t floor_key = floor_key_of(z, vocab, zmax, stats.sum, p, vocab, hist);
    token = draw_by_mass(z, vocab, zmax, floor_key, key, &hist[0][0]);
  }
  if (threadIdx.x == 0) put(token);
}

}  // namespace

void sample_rows(float* logits, int64_t rows, int64_t vocab, const RowSampling* params, int32_t* tokens,
                 cudaStream_t stream, const ArgBest* bests, int32_t n_bests, int32_t* tokens_copy) {
  if (rows <= 0) return;
  if (bests && (rows != 1 || n_bests <= 0))
    throw std::invalid_argument("sample_rows: the logits' block bests are for one row");
  const size_t smem = std::max(size_t((vocab + 31) / 32) * 4, sizeof(Candidates));
  set_max_dynamic_smem(reinterpret_cast<const void*>(sample_kernel), 160 * 1024);
  if (smem > 160 * 1024) throw std::invalid_argument("sample_rows: vocabulary too large");
  launch_chained(sample_kernel, dim3(unsigned(rows)), dim3(kThreads), smem, stream, logits, vocab, params,
                 tokens, bests, n_bests, tokens_copy);
}

}  // namespace r1::cuda
