#pragma once
// y[T, out] = x[T, in] · W[out, in]^T (+ b[out]). W is stored as F32, F16 or BF16 (the model's own bytes,
// never converted as a whole); x, y and b are fp32. Small T (decode) runs a threaded GEMV that widens W
// on the fly; larger T widens W in row panels into `scratch` and calls OpenBLAS sgemm on each panel.
#include <cstdint>

#include "../common/dtype.h"

namespace r1::cpu {

struct LinearScratch {
  float* panel = nullptr;  // at least linear_scratch_floats(in) floats
  int64_t capacity = 0;
};

int64_t linear_scratch_floats(int64_t in_features);

void linear_forward(float* y, const float* x, const void* w, DType w_dtype, const float* bias, int64_t T,
                    int64_t in_features, int64_t out_features, LinearScratch scratch);

// Widens n elements of a weight row to fp32.
void widen_row(float* dst, const void* src, DType dtype, int64_t n);

}  // namespace r1::cpu
