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

// A DeepSeek layer (MLA, then a dense MLP or routed + shared experts). Every expert's gate/up sits in one
// [E, 2 I, H] tensor and its down in one [E, H, I], so expert e is at a fixed stride from the first.
struct CudaMlaLayerWeights {
  cuda::bf16* attn_norm = nullptr;     // [H]
  cuda::bf16* q_proj = nullptr;        // [heads * qk, H], or null with q_lora_rank
  cuda::bf16* q_a = nullptr;           // [q_lora, H]
  cuda::bf16* q_a_norm = nullptr;      // [q_lora]
  cuda::bf16* q_b = nullptr;           // [heads * qk, q_lora]
  cuda::bf16* kv_a = nullptr;          // [kv_lora + rope, H]
  cuda::bf16* kv_a_norm = nullptr;     // [kv_lora]
  cuda::bf16* kv_b = nullptr;          // [heads * (nope + v), kv_lora]
  cuda::bf16* o_proj = nullptr;        // [H, heads * v]
  cuda::bf16* mlp_norm = nullptr;      // [H]
  cuda::bf16* wgu = nullptr;           // dense layers: [2 I, H]
  cuda::bf16* wdown = nullptr;         // [H, I]
  cuda::bf16* router = nullptr;        // MoE layers: [E, H]
  cuda::bf16* experts_gu = nullptr;    // [E, 2 moe_I, H]
  cuda::bf16* experts_down = nullptr;  // [E, H, moe_I]
  cuda::bf16* shared_gu = nullptr;     // [2 shared_I, H], or null
  cuda::bf16* shared_down = nullptr;   // [H, shared_I]
};

struct CudaWeights {
  cuda::DeviceBuffer block;
  cuda::bf16* embed = nullptr;                  // [V, H]
  cuda::bf16* final_norm = nullptr;             // [H]
  cuda::bf16* lm_head = nullptr;                // [V, H]; the embedding when tied
  std::vector<CudaLayerWeights> layers;         // Llama family
  std::vector<CudaMlaLayerWeights> mla_layers;  // DeepSeek
  int64_t bytes = 0;
};

// Bytes the weights take on the device (for planning before anything is allocated).
int64_t cuda_weight_bytes(const Model& m);
CudaWeights upload_weights(const Model& m, cudaStream_t stream);

}  // namespace r1
