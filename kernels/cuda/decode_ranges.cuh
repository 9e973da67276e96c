#pragma once
// Merging a head's key ranges after split-K decode attention (attention_decode.cu): each range left its
// highest score top_s, its sum of probabilities sum_s and its unnormalized value sums v_s; the head's output
// is sum_s w_s v_s / sum_s w_s sum_s with w_s = exp(top_s - top). A cluster's first block and the last block
// through global memory both merge with these, in the same order, so the two give the same bits.
#include <cuda_bf16.h>

#include <cmath>

namespace r1::cuda {

// w[s] for s < used (0 past it); returns the total. top_of(s) and sum_of(s) are read for s < used only.
template <int kMax, typename Top, typename Sum>
__device__ __forceinline__ float range_weights(int used, const Top& top_of, const Sum& sum_of,
                                               float (&w)[kMax]) {
  float top = -INFINITY;
#pragma unroll
  for (int s = 0; s < kMax; ++s)
    if (s < used) top = fmaxf(top, top_of(s));
  float total = 0.0f;
#pragma unroll
  for (int s = 0; s < kMax; ++s) {
    w[s] = s < used ? __expf(top_of(s) - top) : 0.0f;
    if (s < used) total = fmaf(sum_of(s), w[s], total);
  }
  return total;
}

// One output value from the ranges' sums v(s) of one dim, in a fixed order; v(s) is read for every s < kMax
// and must be 0 past the ranges used.
template <int kMax, typename V>
__device__ __forceinline__ __nv_bfloat16 merge_ranges(const float (&w)[kMax], float total, const V& v) {
  float acc = 0.0f;
#pragma unroll
  for (int s = 0; s < kMax; ++s) acc = fmaf(w[s], v(s), acc);
  return __float2bfloat16_rn(acc / total);
}

}  // namespace r1::cuda
