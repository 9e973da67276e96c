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

// Training forms. gate_up [T, 2I]: gate in the first I columns, up in the last I (one fused projection).
// h[T, I] = silu(gate) * up; dgate_up (assigned) from dh.
void swiglu_forward_fused(float* h, const float* gate_up, int64_t T, int64_t inter);
void swiglu_backward_fused(float* dgate_up, const float* dh, const float* gate_up, int64_t T, int64_t inter);
// dtable[ids[t]] += dy[t] for fp32 rows of dim (deterministic: in token order per row).
void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t dim);

}  // namespace r1::cpu
