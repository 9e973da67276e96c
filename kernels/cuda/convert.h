#pragma once
// Widening/narrowing copies between storage types on the device (weights are uploaded in their stored
// dtype and converted to bf16 there).
#include <cstdint>

#include "cuda_common.h"
#include "kernels/common/dtype.h"

namespace r1::cuda {

// dst[i] = bf16(src[i]) for src of dtype F32, F16 or BF16.
void convert_to_bf16(bf16* dst, const void* src, DType src_dtype, int64_t n, cudaStream_t stream);
// dst[i] = float(src[i]).
void bf16_to_f32(float* dst, const bf16* src, int64_t n, cudaStream_t stream);

}  // namespace r1::cuda
