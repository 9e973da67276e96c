#pragma once
// A loaded model: its configuration, where its tensors live, and per-layer views of them (data only).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "deepseek.h"
#include "engine/core/tensor.h"
#include "engine/io/weight_store.h"

namespace r1 {

struct LayerWeights {
  TensorView attn_norm;             // [hidden]
  TensorView wq, wk, wv, wo;        // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  TensorView bq, bk, bv, bo;        // optional biases
  TensorView q_norm, k_norm;        // [head_dim], Qwen3
  TensorView mlp_norm;              // [hidden]
  TensorView w_gate, w_up, w_down;  // [inter, hidden] x2, [hidden, inter]
  TensorView b_gate, b_up, b_down;  // optional (Llama mlp_bias)
};

struct ModelWeights {
  TensorView embed;       // [vocab, hidden]
  TensorView final_norm;  // [hidden]
  TensorView lm_head;     // [vocab, hidden]; the embedding when tied
  std::vector<LayerWeights> layers;
};

struct Model {
  ModelConfig config;
  std::filesystem::path dir;  // empty for generated weights
  std::string name;
  std::shared_ptr<const WeightStore> store;
  ModelWeights weights;  // DeepSeek: embedding, final norm and LM head only; its layers are below
  std::vector<DeepseekLayerWeights> deepseek_layers;

  std::vector<int64_t> stop_ids;  // config.json and generation_config.json eos ids

  int64_t parameter_count() const;
  DType weight_dtype() const { return weights.embed.dtype; }
};

// Binds every tensor the architecture needs, checking presence, dtype and shape; errors name the tensor,
// the file and the expected and found shapes.
ModelWeights bind_weights(const ModelConfig& c, const WeightStore& store);

// Loads a Hugging Face model folder (config.json + safetensors). Weights stay memory-mapped.
std::shared_ptr<const Model> load_model(const std::filesystem::path& dir);

// Random weights for a named shape (no download needed): r1-distill-qwen-1.5b, qwen2.5-0.5b, qwen3-0.6b,
// deepseek-v2-lite (and deepseek-v2-lite-4l, its first four layers, for machines without 32 GB free).
std::vector<std::string> known_shapes();
ModelConfig shape_config(const std::string& shape);
std::shared_ptr<const Model> random_model(const ModelConfig& c, DType dtype, uint64_t seed,
                                          float stddev = 0.02f);

}  // namespace r1
