#pragma once
// Thread-block clusters (Hopper): the blocks of a cluster run at once on one GPC and can write into each
// other's shared memory. Here one block of a cluster gathers what the others send it: it sets up a shared
// memory barrier, the others store into its shared memory and arrive on that barrier, and it waits there.
// launch_dependent_clusters() (launch.cuh) launches a grid in clusters.
#include <cuda_runtime.h>

#include <cstdint>

namespace r1::cuda {

// Every thread of every block of the cluster: arrive and wait (a barrier across the cluster).
__device__ __forceinline__ void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release;\n\tbarrier.cluster.wait.acquire;" ::: "memory");
#endif
}

// A barrier in this block's shared memory that completes when `count` arrivals are made on it; other blocks
// of the cluster may arrive only after a cluster_sync() that follows this.
__device__ __forceinline__ void gather_barrier_init(uint64_t* bar, uint32_t count) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const auto a = uint32_t(__cvta_generic_to_shared(bar));
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n\tfence.mbarrier_init.release.cluster;" ::"r"(a),
               "r"(count)
               : "memory");
#endif
}

// The address of p (this block's shared memory) in the shared memory of the cluster's block `rank`.
template <typename T>
__device__ __forceinline__ T* in_block(T* p, uint32_t rank) {
  uint64_t d = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mapa.u64 %0, %1, %2;" : "=l"(d) : "l"(reinterpret_cast<uint64_t>(p)), "r"(rank));
#endif
  return reinterpret_cast<T*>(d);
}

// One arrival on block `rank`'s barrier at bar, releasing (at cluster scope) this thread's earlier writes
// and, through a __syncthreads() before it, its block's.
__device__ __forceinline__ void gather_arrive(uint64_t* bar, uint32_t rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const auto a = uint32_t(__cvta_generic_to_shared(bar));
  asm volatile(
      "{\n\t.reg .b32 r;\n\tmapa.shared::cluster.u32 r, %0, %1;\n\t"
      "mbarrier.arrive.release.cluster.shared::cluster.b64 _, [r];\n\t}" ::"r"(a),
      "r"(rank)
      : "memory");
#endif
}

// Waits (every calling thread) until the barrier's first phase completes, acquiring what the arrivals
// released.
__device__ __forceinline__ void gather_wait(uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const auto a = uint32_t(__cvta_generic_to_shared(bar));
  asm volatile(
      "{\n\t.reg .pred done;\n\tWAIT_%=:\n\t"
      "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 done, [%0], 0;\n\t"
      "@!done bra WAIT_%=;\n\t}" ::"r"(a)
      : "memory");
#endif
}

}  // namespace r1::cuda
