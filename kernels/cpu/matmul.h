#pragma once
// Training matmul, fp32 weights and activations (OpenBLAS sgemm):
//   forward   y[T, N] (= or +=) x[T, K] · W[N, K]^T (+ b[N])
//   backward  dx[T, K] (= or +=) dy · W,  dW[N, K] (+= or =) dy^T · x,  db[N] += Σ_t dy[t]
// Parameter gradients accumulate (+=) unless `assign_dw` asks to overwrite dW (its old values are then
// never read); activation gradients assign unless `accumulate` asks to add (the residual stream, where two
// paths meet). Any of dx, dw, db may be null to skip it.
#include <cstdint>

namespace r1::cpu {

void matmul_forward(float* y, const float* x, const float* w, const float* b, int64_t T, int64_t K, int64_t N,
                    bool accumulate = false);
void matmul_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     int64_t T, int64_t K, int64_t N, bool accumulate_dx = false, bool assign_dw = false);

}  // namespace r1::cpu
