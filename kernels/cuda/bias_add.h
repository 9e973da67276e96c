#pragma once
// y[t, i] += bias[i] for a bf16 or fp32 y with row stride ld (used after cuBLAS GEMMs, which have no bias).
#include "cuda_common.h"

namespace r1::cuda {

void bias_add_bf16(bf16* y, const bf16* bias, int64_t T, int64_t n, int64_t ld, cudaStream_t stream);
void bias_add_f32(float* y, const bf16* bias, int64_t T, int64_t n, int64_t ld, cudaStream_t stream);

}  // namespace r1::cuda
