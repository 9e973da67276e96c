#pragma once
// Where every trainable tensor lives in the trainer's one block of parameters (and, at the same offsets, its
// gradient, Adam moments and bf16 compute copy). Tensors that one GEMM reads together are adjacent, so the
// block holds them fused without copies: q/k/v projections (and their biases) form one [q + 2kv, hidden]
// matrix, gate/up one [2 inter, hidden], and MLA's q_a/kv_a projections one [q_lora + kv_lora + rope,
// hidden]; in a mixture-of-experts layer each expert's gate/up likewise. Names are the Hugging Face ones, so
// loading and saving go through the model's own files. A DeepSeek-V3 router's e_score_correction_bias only
// steers the choice of experts and is not trained: it stays outside the block.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/model/config.h"

namespace r1 {

struct ParamTensor {
  std::string name;  // Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight
  Shape shape;
  int64_t offset = 0;  // elements from the start of the block
  bool decay = false;  // AdamW weight decay: matrices and embeddings, not norms or biases
  int64_t numel() const { return r1::numel(shape); }
};

// Offsets of one decoder layer's tensors (elements into the block; -1 when the model has no such tensor).
struct LayerParams {
  int64_t attn_norm = -1, mlp_norm = -1;
  // dense attention
  int64_t wqkv = -1, bqkv = -1, q_norm = -1, k_norm = -1;
  // MLA: fused [q_a; kv_a] (or kv_a alone with a direct q_proj), q_a_norm, q_b (or q_proj), kv_a_norm, kv_b
  int64_t w_a = -1, q_a_norm = -1, wq_b = -1, kv_a_norm = -1, wkv_b = -1;
  int64_t wo = -1, bo = -1;
  // The dense MLP, or a mixture-of-experts layer's shared experts (-1 when it has none).
  int64_t w_gate_up = -1, b_gate_up = -1, w_down = -1, b_down = -1;
  int64_t mlp_inter = 0;  // the dense MLP's (or the shared experts') intermediate width; 0: none
  // Mixture of experts (DeepSeek layers from first_k_dense_replace on): the router [E, hidden] and, per
  // routed expert, its fused [gate; up] [2 moe_inter, hidden] and its down [hidden, moe_inter].
  int64_t router = -1;
  std::vector<int64_t> expert_gate_up, expert_down;

  bool is_moe() const { return router >= 0; }
};

struct ParamLayout {
  std::vector<ParamTensor> tensors;
  std::vector<LayerParams> layers;
  int64_t embed = -1, final_norm = -1, lm_head = -1;  // lm_head == embed when tied
  int64_t total = 0;                                  // elements in the block

  const ParamTensor* find(const std::string& name) const;
};

// The layout for a configuration, or an error naming what training does not support yet (DeepSeek attention
// bias).
ParamLayout make_param_layout(const ModelConfig& c);

// Whether decoder layer l is a mixture-of-experts layer (DeepSeek, from first_k_dense_replace on).
bool is_moe_layer(const ModelConfig& c, int64_t l);

}  // namespace r1
