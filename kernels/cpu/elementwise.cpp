#include "elementwise.h"

#include <cmath>

#include "linear.h"
#include "parallel.h"

namespace r1::cpu {

void swiglu_forward(float* y, const float* gate, const float* up, int64_t n) {
  parallel_for(
      n,
      [&](int64_t a, int64_t b) {
        for (int64_t i = a; i < b; ++i) {
          const float g = gate[i];
          y[i] = g / (1.0f + std::exp(-g)) * up[i];
        }
      },
      4096);
}

void add_inplace(float* x, const float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += d[i];
}

void embedding_forward(float* y, const int32_t* ids, const void* table, DType dtype, int64_t T, int64_t dim) {
  const auto* bytes = static_cast<const unsigned char*>(table);
  const int64_t row_bytes = dim * int64_t(dtype_size(dtype));
  for (int64_t t = 0; t < T; ++t) widen_row(y + t * dim, bytes + ids[t] * row_bytes, dtype, dim);
}

}  // namespace r1::cpu
