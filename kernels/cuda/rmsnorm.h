#pragma once
// RMSNorm of the fp32 residual stream into a bf16 GEMM input: y[r] = bf16(x[src] / sqrt(mean(x[src]^2) + eps)
// * w) with src = row_index ? row_index[r] : r (the final norm picks the rows that produce logits).
#include "cuda_common.h"

namespace r1::cuda {

void rmsnorm_forward(bf16* y, const float* x, const bf16* w, int64_t rows, int64_t dim, float eps,
                     cudaStream_t stream, const int32_t* row_index = nullptr);

// Training forms: fp32 input and weight (the master copy), bf16 output, row strides, rstd saved
// (rstd[r] = 1/sqrt(mean(x^2)+eps)). Backward: dx fp32 (= or += with accumulate_dx, for a residual input),
// dw fp32 +=, dy bf16; dx_bf16 (optional, same layout as dx) receives dx rounded to bf16. The forward can
// also copy x into x_copy (same layout as x, not overlapping it): the trainer's residual stream starts the
// next sublayer's sum from there, without a separate copy reading x again.
void rmsnorm_forward_train(bf16* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                           int64_t rows, int64_t dim, float eps, cudaStream_t stream,
                           float* x_copy = nullptr);
void rmsnorm_backward(float* dx, float* dw, const bf16* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                      const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx,
                      bf16* dx_bf16, cudaStream_t stream);

}  // namespace r1::cuda
