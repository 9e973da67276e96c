#pragma once
// DeepSeek-V2/V3 (Multi-head Latent Attention + mixture of experts): the config.json fields beyond the
// Llama family's, the per-layer weights (data only), and the figures derived from them.
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "config.h"
#include "engine/core/tensor.h"
#include "engine/io/weight_store.h"
#include "kernels/cpu/moe.h"

namespace r1 {

struct Model;

struct ExpertWeights {  // a SwiGLU MLP: down(silu(gate x) * up x)
  TensorView gate;      // [inter, hidden]
  TensorView up;        // [inter, hidden]
  TensorView down;      // [hidden, inter]
};

struct DeepseekLayerWeights {
  TensorView attn_norm;  // [hidden]
  TensorView q_proj;     // [H * (d_nope + d_rope), hidden]; without q_lora_rank
  TensorView q_a_proj;   // [q_lora, hidden]
  TensorView q_a_norm;   // [q_lora]
  TensorView q_b_proj;   // [H * (d_nope + d_rope), q_lora]
  TensorView
      kv_a_proj;  // [kv_lora + d_rope, hidden]: latent c_kv, then the shared rope key (kv_a_proj_with_mqa)
  TensorView kv_a_norm;  // [kv_lora]
  TensorView kv_b_proj;  // [H * (d_nope + d_v), kv_lora]: per head d_nope rows of W_UK, then d_v rows of W_UV
  TensorView o_proj;     // [hidden, H * d_v]
  TensorView mlp_norm;   // [hidden]
  ExpertWeights dense;   // layers below first_k_dense_replace: [intermediate, hidden], ..
  TensorView router;     // [n_routed_experts, hidden] (mlp.gate)
  TensorView router_bias;              // [n_routed_experts] V3 e_score_correction_bias (often F32)
  std::vector<ExpertWeights> experts;  // n_routed_experts x [moe_inter, hidden], ..
  ExpertWeights shared;                // [n_shared * moe_inter, hidden], ..; empty without shared experts

  bool is_moe() const { return bool(router); }
};

// Reads the MLA and MoE fields of a DeepseekV2/V3 config.json into c (c.arch is set); errors name the field.
// Missing fields take transformers' defaults for the architecture, except the dimensions, which are required.
void parse_deepseek_config(const nlohmann::json& j, const std::string& origin, ModelConfig& c);

// transformers: qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 under a scaled rope.
double mla_softmax_scale(const ModelConfig& c);

// The routing rules of a MoE config for the router kernels (inference and training); selection_bias is a
// layer's V3 e_score_correction_bias, or null.
cpu::RouterConfig moe_router_config(const MoeConfig& m, const float* selection_bias);

// KV cache values per token per layer: the latent (c_kv and k_pe), and what full per-head K/V would need.
int64_t mla_latent_values_per_token(const ModelConfig& c);
int64_t mha_values_per_token(const ModelConfig& c);

// Every per-layer tensor with its expected shape and the field it fills; `layers` is resized to fit.
struct DeepseekTensor {
  std::string name;
  Shape shape;
  TensorView* field;
  bool is_norm;          // random weights fill norms with ones
  bool any_float_dtype;  // may differ from the model's dtype (e_score_correction_bias)
};
std::vector<DeepseekTensor> deepseek_layer_tensors(const ModelConfig& c,
                                                   std::vector<DeepseekLayerWeights>& layers);

// Binds the layers, checking presence, shape and dtype; errors name the tensor, its file and both shapes.
// Tensors of multi-token-prediction layers (model.layers.{num_layers}..) are left unbound.
std::vector<DeepseekLayerWeights> bind_deepseek_layers(const ModelConfig& c, const WeightStore& store,
                                                       DType dtype);

// Tensors of layers past num_hidden_layers (multi-token prediction), which are not loaded.
int64_t mtp_tensor_count(const ModelConfig& c, const WeightStore& store);

int64_t deepseek_layer_parameters(const DeepseekLayerWeights& L);

// Parameters one token passes through: attention, dense MLPs, shared and top-k routed experts, embeddings row
// excluded, LM head included.
int64_t deepseek_active_parameters(const ModelConfig& c);

// Weight bytes one decode step reads for `batch` sequences: every dense matrix once, and the routed experts
// expected to be hit (top_k at batch 1; n * (1 - (1 - k/n)^batch) under uniform routing).
int64_t deepseek_weight_bytes_per_step(const Model& m, int64_t batch);

// Throws OutOfMemoryError, naming the bytes needed and available, when random weights of this shape would not
// fit in the host's available memory.
void check_random_weights_fit(const ModelConfig& c, DType dtype, const std::string& what);

}  // namespace r1
