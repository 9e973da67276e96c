#pragma once
// The CUDA form of kernels/cpu/adamw.h. Also refreshes the bf16 compute copy of the weights (when given)
// in the same pass.
#include "cuda_common.h"
#include "kernels/cpu/adamw.h"

namespace r1::cuda {

using cpu::AdamWStep;

void adamw_update(float* w, bf16* w_compute, float* m, float* v, const float* grad, int64_t n,
                  const AdamWStep& s, bool decay, cudaStream_t stream);
// *acc += Σ x^2 (fp64 on the device).
void sum_squares_accumulate(double* acc, const float* x, int64_t n, cudaStream_t stream);

}  // namespace r1::cuda
