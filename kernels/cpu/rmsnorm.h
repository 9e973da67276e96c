#pragma once
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, over the last dimension, fp32.
#include <cstdint>

namespace r1::cpu {

void rmsnorm_forward(float* y, const float* x, const float* w, int64_t rows, int64_t dim, float eps);

// Training forward with row strides (ld_x, ld_y elements between rows); saves rstd[r] = 1/sqrt(mean(x^2)+eps).
void rmsnorm_forward_train(float* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                           int64_t rows, int64_t dim, float eps);
// dx (= or += with accumulate_dx: a residual input also receives the skip path's gradient), dw +=.
// dy has row stride ld_dy, x and dx share ld_x.
void rmsnorm_backward(float* dx, float* dw, const float* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                      const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx);

}  // namespace r1::cpu
