#pragma once
// RMSNorm of the fp32 residual stream into a bf16 GEMM input: y[r] = bf16(x[src] / sqrt(mean(x[src]^2) + eps)
// * w) with src = row_index ? row_index[r] : r (the final norm picks the rows that produce logits).
#include "cuda_common.h"

namespace r1::cuda {

void rmsnorm_forward(bf16* y, const float* x, const bf16* w, int64_t rows, int64_t dim, float eps,
                     cudaStream_t stream, const int32_t* row_index = nullptr);

}  // namespace r1::cuda
