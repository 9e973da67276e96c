#include "rmsnorm.h"

#include <cmath>

#include "parallel.h"

namespace r1::cpu {

void rmsnorm_forward(float* y, const float* x, const float* w, int64_t rows, int64_t dim, float eps) {
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * dim;
          float* yr = y + r * dim;
          double ss = 0;
          for (int64_t i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
          const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
          for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * w[i];
        }
      },
      64);
}

}  // namespace r1::cpu
