#include "device_utils.cuh"
#include "embedding.h"
#include "launch.cuh"

namespace r1::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kHeld = 4;  // 16-byte pieces of the row a thread holds across the wait (the first 8 192 values)

// Word i of the copy's ranges laid end to end, as an offset into source and destination; -1 past the end.
__device__ __forceinline__ int64_t word_offset(const HostCopyRanges& r, int64_t i) {
#pragma unroll
  for (int k = 0; k < HostCopyRanges::kMax; ++k) {
    if (i < r.count[k]) return r.offset[k] + i;
    i -= r.count[k];
  }
  return -1;
}

__global__ void __launch_bounds__(kThreads) embedding_kernel(const EmbeddingArgs a) {
  const int64_t t = blockIdx.x;
  const int32_t id = a.ids[t];
  const bf16* row = a.table + int64_t(id) * a.dim;
  for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) a.x[t * a.dim + i] = __bfloat162float(row[i]);
  if (a.history && threadIdx.x == 0)
    a.history[int64_t(a.row_seq[t]) * a.history_stride + a.positions[t]] = id;
}

// The step's first kernel: row t's id, its row of the table and this thread's word of the copy come from the
// host and the weights, so they are requested before the wait; everything is stored after it. With
// ids_after_wait the id is the kernel before's output: it, and so the row, are read after the wait.
__global__ void __launch_bounds__(kThreads) step_embedding_kernel(const EmbeddingArgs a) {
  allow_next_kernel();
  const int64_t t = blockIdx.x;
  const bool early = !a.ids_after_wait;
  const int64_t word = word_offset(a.copy, t * kThreads + threadIdx.x);
  const int32_t copied = word >= 0 ? a.copy_src[word] : 0;
  int32_t id = early ? a.ids[t] : 0;
  int32_t seq = 0, pos = 0;
  if (a.history && threadIdx.x == 0) seq = a.row_seq[t], pos = a.positions[t];
  // Pieces held across the wait; a row not in whole 16-byte pieces, or the rest of a longer one, is read
  // after.
  const int64_t pieces = a.dim % 8 == 0 ? min(a.dim / 8, int64_t(kHeld) * kThreads) : 0;
  Bf16x8 held[kHeld];
  const auto load_held = [&](const bf16* row) {
#pragma unroll
    for (int j = 0; j < kHeld; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * kThreads;
      if (i < pieces) held[j] = *reinterpret_cast<const Bf16x8*>(row + i * 8);
    }
  };
  if (early) load_held(a.table + int64_t(id) * a.dim);
  wait_for_previous_kernel();
  if (!early) {
    id = a.ids[t];
    load_held(a.table + int64_t(id) * a.dim);
  }
  const bf16* row = a.table + int64_t(id) * a.dim;
  if (word >= 0) a.copy_dst[word] = copied;
  if (a.history && threadIdx.x == 0) a.history[int64_t(seq) * a.history_stride + pos] = id;
  float* x = a.x + t * a.dim;
#pragma unroll
  for (int j = 0; j < kHeld; ++j) {
    const int64_t i = threadIdx.x + int64_t(j) * kThreads;
    if (i >= pieces) continue;
    float f[8];
    unpack(held[j], f);
    *reinterpret_cast<float4*>(x + i * 8) = make_float4(f[0], f[1], f[2], f[3]);
    *reinterpret_cast<float4*>(x + i * 8 + 4) = make_float4(f[4], f[5], f[6], f[7]);
  }
  for (int64_t i = pieces * 8 + threadIdx.x; i < a.dim; i += kThreads) x[i] = __bfloat162float(row[i]);
}

}  // namespace

void embedding_forward(const EmbeddingArgs& a, cudaStream_t stream) {
  if (a.T <= 0) return;
  if (!a.copy_src) {
    embedding_kernel<<<unsigned(a.T), kThreads, 0, stream>>>(a);
    R1_CUDA_LAUNCHED();
    return;
  }
  int64_t words = 0;
  for (int k = 0; k < HostCopyRanges::kMax; ++k) {
    if (a.copy.count[k] < 0 || a.copy.offset[k] < 0)
      throw std::invalid_argument("embedding_forward: negative offset or count in the step copy");
    words += a.copy.count[k];
  }
  if (words > a.T * kThreads)
    throw std::invalid_argument("embedding_forward: more than 256 words a row to copy with the step");
  launch_chained(step_embedding_kernel, dim3(unsigned(a.T)), dim3(kThreads), 0, stream, a);
}

}  // namespace r1::cuda
