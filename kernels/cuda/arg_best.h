#pragma once
// A value and where it is: the argmax state the LM head's GEMV leaves per block (gemv.h) and the greedy
// sampler reduces (sampling.h). better() keeps the higher value, on a tie the lower index, and never a NaN,
// so the result does not depend on the order values are combined in.
#include <cstdint>

namespace r1::cuda {

struct ArgBest {
  float value;
  int32_t index;
};

#ifdef __CUDACC__
__device__ __forceinline__ ArgBest better(ArgBest a, ArgBest b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

__device__ __forceinline__ ArgBest warp_best(ArgBest v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const ArgBest other{__shfl_xor_sync(0xffffffffu, v.value, o), __shfl_xor_sync(0xffffffffu, v.index, o)};
    v = better(v, other);
  }
  return v;
}

// The best over the block, returned to every thread; scratch holds a value per warp (at most 32 warps).
__device__ inline ArgBest block_best(ArgBest v, ArgBest* scratch) {
  v = warp_best(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[lane < int(blockDim.x >> 5) ? lane : 0];
  return warp_best(v);
}
#endif

}  // namespace r1::cuda
