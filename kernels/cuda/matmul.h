#pragma once
// Training matmul through cuBLAS, bf16 operands with fp32 accumulation, fp32 bias and gradients:
//   forward   y[T, N] = x[T, K] · W[N, K]^T (+ b[N])   into bf16, fp32, or added to fp32 (the residual)
//   backward  dx[T, K] = dy · W (bf16, fp32, or added to fp32),  dW[N, K] (+= or =) dy^T · x,
//             db[N] += Σ_t dy[t]
// Parameter gradients accumulate (+=) in fp32, unless `assign_dw` asks to overwrite dW (its old values are
// then never read). Any of dx, dw, db may be null to skip it.
#include "gemm.h"

namespace r1::cuda {

void matmul_forward(Blas& blas, void* y, GemmOutput out, const bf16* x, const bf16* w, const float* b,
                    int64_t T, int64_t K, int64_t N, cudaStream_t stream);
void matmul_backward(Blas& blas, void* dx, GemmOutput dx_out, float* dw, float* db, const bf16* dy,
                     const bf16* x, const bf16* w, int64_t T, int64_t K, int64_t N, cudaStream_t stream,
                     bool assign_dw = false);

}  // namespace r1::cuda
