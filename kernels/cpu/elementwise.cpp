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

void swiglu_forward_fused(float* h, const float* gate_up, int64_t T, int64_t inter) {
  parallel_for(
      T,
      [&](int64_t a, int64_t b) {
        for (int64_t t = a; t < b; ++t) {
          const float* gate = gate_up + t * 2 * inter;
          const float* up = gate + inter;
          float* out = h + t * inter;
          for (int64_t i = 0; i < inter; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
        }
      },
      8);
}

// With s = sigmoid(g): d silu(g) / dg = s (1 + g (1 - s)).
void swiglu_backward_fused(float* dgate_up, const float* dh, const float* gate_up, int64_t T, int64_t inter) {
  parallel_for(
      T,
      [&](int64_t a, int64_t b) {
        for (int64_t t = a; t < b; ++t) {
          const float* gate = gate_up + t * 2 * inter;
          const float* up = gate + inter;
          const float* d = dh + t * inter;
          float* dgate = dgate_up + t * 2 * inter;
          float* dup = dgate + inter;
          for (int64_t i = 0; i < inter; ++i) {
            const float g = gate[i], u = up[i];
            const float sig = 1.0f / (1.0f + std::exp(-g));
            dgate[i] = d[i] * u * sig * (1.0f + g * (1.0f - sig));
            dup[i] = d[i] * g * sig;
          }
        }
      },
      8);
}

// Split by columns: every thread walks all tokens in order over its own columns, so repeated ids add up
// without races and in the same order for any thread count.
void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t dim) {
  parallel_for(
      dim,
      [&](int64_t c0, int64_t c1) {
        for (int64_t t = 0; t < T; ++t) {
          float* dst = dtable + int64_t(ids[t]) * dim;
          const float* src = dy + t * dim;
          for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
        }
      },
      64);
}

}  // namespace r1::cpu
