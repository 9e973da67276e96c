#pragma once
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, over the last dimension, fp32.
#include <cstdint>

namespace r1::cpu {

void rmsnorm_forward(float* y, const float* x, const float* w, int64_t rows, int64_t dim, float eps);

}  // namespace r1::cpu
