#include "embedding.h"

namespace r1::cuda {
namespace {

__global__ void embedding_kernel(const EmbeddingArgs a) {
  const int64_t t = blockIdx.x;
  const int32_t id = a.ids[t];
  const bf16* row = a.table + int64_t(id) * a.dim;
  for (int64_t i = threadIdx.x; i < a.dim; i += blockDim.x) a.x[t * a.dim + i] = __bfloat162float(row[i]);
  if (a.history && threadIdx.x == 0)
    a.history[int64_t(a.row_seq[t]) * a.history_stride + a.positions[t]] = id;
}

}  // namespace

void embedding_forward(const EmbeddingArgs& a, cudaStream_t stream) {
  if (a.T <= 0) return;
  embedding_kernel<<<unsigned(a.T), 256, 0, stream>>>(a);
  R1_CUDA_LAUNCHED();
}

}  // namespace r1::cuda
