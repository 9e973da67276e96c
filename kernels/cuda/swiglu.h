#pragma once
// y[t, i] = silu(gu[t, i]) * gu[t, I + i]: the fused gate/up projection output split in two halves.
#include "cuda_common.h"

namespace r1::cuda {

void swiglu_forward(bf16* y, const bf16* gate_up, int64_t T, int64_t inter, cudaStream_t stream);

}  // namespace r1::cuda
