#pragma once
// Small fp32 element-wise ops of the decoder block: SwiGLU, residual add, embedding gather.
#include <cstdint>

#include "../common/dtype.h"

namespace r1::cpu {

// y = silu(gate) * up
void swiglu_forward(float* y, const float* gate, const float* up, int64_t n);

// x += d
void add_inplace(float* x, const float* d, int64_t n);

// y[t] = table[ids[t]] widened to fp32; ids are checked against rows by the caller.
void embedding_forward(float* y, const int32_t* ids, const void* table, DType dtype, int64_t T, int64_t dim);

}  // namespace r1::cpu
