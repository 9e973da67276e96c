#pragma once
// Programmatic dependent launch (Hopper): a kernel launched with launch_dependent() may be scheduled while
// the kernel before it in the stream is still running, so its launch and prologue (block scheduling, its
// first weight loads) overlap that kernel's tail instead of following it. Such a kernel calls
// allow_next_kernel() early, to let the kernel after it do the same, and wait_for_previous_kernel() before it
// reads anything an earlier kernel wrote and before it writes anything; before that wait it may only read
// what no kernel writes (weights). A CUDA graph captures the overlap as programmatic edges.
// launch_chained() is launch_dependent() for the kernels of a batch-1 decode step, which all take the same
// shared-memory carveout (set_chained_carveout) so that the overlap can happen.
#include <cuda_runtime.h>

#include "cuda_common.h"

namespace r1::cuda {

__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// launch_dependent() below, with the grid in clusters of cluster_z blocks along z (1: no clusters).
template <typename... Params, typename... Args>
void launch_dependent_clusters(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                               unsigned cluster_z, cudaStream_t stream, Args... args) {
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  attr[1].id = cudaLaunchAttributeClusterDimension;
  attr[1].val.clusterDim.x = 1;
  attr[1].val.clusterDim.y = 1;
  attr[1].val.clusterDim.z = cluster_z;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = cluster_z > 1 ? 2 : 1;
  R1_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                      Args... args) {
  launch_dependent_clusters(kernel, grid, block, smem, 1u, stream, args...);
}

template <typename... Params, typename... Args>
void launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                    Args... args) {
  set_chained_carveout(reinterpret_cast<const void*>(kernel));
  launch_dependent(kernel, grid, block, smem, stream, args...);
}

}  // namespace r1::cuda
