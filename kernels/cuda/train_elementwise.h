#pragma once
// Element-wise training ops on the device: SwiGLU backward (fused gate/up layout of swiglu.h), the
// embedding's gradient scatter, and the fp32 -> bf16 narrowing the backward GEMMs need.
#include "cuda_common.h"

namespace r1::cuda {

// dgate_up[T, 2I] (assigned) from dh[T, I] and the saved gate_up.
void swiglu_backward(bf16* dgate_up, const bf16* dh, const bf16* gate_up, int64_t T, int64_t inter,
                     cudaStream_t stream);
// dtable[ids[t]] += dy[t] (fp32, atomic).
void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t dim,
                        cudaStream_t stream);
// dst[i] = bf16(src[i]).
void f32_to_bf16(bf16* dst, const float* src, int64_t n, cudaStream_t stream);

}  // namespace r1::cuda
