#pragma once
// The Llama-family weights on the GPU, in one allocation, converted to bf16, with the Q/K/V projections
// concatenated into one matrix and gate/up into another (one GEMM each instead of three and two).
#include <vector>

#include "engine/model/model.h"
#include "kernels/cuda/cuda_common.h"

namespace r1 {

struct CudaLayerWeights {
  cuda::bf16* attn_norm = nullptr;  // [H]
  cuda::bf16* wqkv = nullptr;       // [Q + 2 KV, H]
  cuda::bf16* bqkv = nullptr;       // [Q + 2 KV] or null
  cuda::bf16* q_norm = nullptr;     // [D] or null
  cuda::bf16* k_norm = nullptr;
  cuda::bf16* wo = nullptr;  // [H, Q]
  cuda::bf16* bo = nullptr;
  cuda::bf16* mlp_norm = nullptr;  // [H]
  cuda::bf16* wgu = nullptr;       // [2 I, H]: gate rows then up rows
  cuda::bf16* bgu = nullptr;
  cuda::bf16* wdown = nullptr;  // [H, I]
  cuda::bf16* bdown = nullptr;
};

struct CudaWeights {
  cuda::DeviceBuffer block;
  cuda::bf16* embed = nullptr;       // [V, H]
  cuda::bf16* final_norm = nullptr;  // [H]
  cuda::bf16* lm_head = nullptr;     // [V, H]; the embedding when tied
  std::vector<CudaLayerWeights> layers;
  int64_t bytes = 0;
};

// Bytes the weights take on the device (for planning before anything is allocated).
int64_t cuda_weight_bytes(const Model& m);
CudaWeights upload_weights(const Model& m, cudaStream_t stream);

}  // namespace r1
