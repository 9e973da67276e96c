#include "model.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/files.h"

namespace r1 {
namespace {

class Binder {
 public:
  Binder(const WeightStore& store, DType dtype) : store_(store), dtype_(dtype) {}

  TensorView need(const std::string& name, const Shape& shape) const {
    TensorView t = store_.find(name);
    if (!t)
      fail(store_.origin(name), ": missing tensor '", name, "' (expected shape ", shape_str(shape), ")");
    check(name, t, shape);
    return t;
  }

  TensorView maybe(const std::string& name, const Shape& shape, bool expected) const {
    TensorView t = store_.find(name);
    if (!t) {
      if (expected)
        fail(store_.origin(name), ": missing tensor '", name, "' (expected shape ", shape_str(shape), ")");
      return {};
    }
    check(name, t, shape);
    return t;
  }

 private:
  void check(const std::string& name, const TensorView& t, const Shape& shape) const {
    if (t.shape != shape)
      fail(store_.origin(name), ": tensor '", name, "' has shape ", shape_str(t.shape), ", expected ",
           shape_str(shape));
    if (!is_float_weight(t.dtype))
      fail(store_.origin(name), ": tensor '", name, "' has dtype ", dtype_name(t.dtype),
           "; weights must be F32, F16 or BF16");
    if (t.dtype != dtype_)
      fail(store_.origin(name), ": tensor '", name, "' is ", dtype_name(t.dtype), " but the embedding is ",
           dtype_name(dtype_), "; mixed weight dtypes are not supported");
  }

  const WeightStore& store_;
  DType dtype_;
};

}  // namespace

ModelWeights bind_weights(const ModelConfig& c, const WeightStore& store) {
  const TensorView embed = store.find("model.embed_tokens.weight");
  if (!embed)
    fail(store.origin("model.embed_tokens.weight"),
         ": missing tensor 'model.embed_tokens.weight' (expected shape ",
         shape_str({c.vocab_size, c.hidden_size}), ")");
  const Binder b(store, embed.dtype);
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  ModelWeights w;
  w.embed = b.need("model.embed_tokens.weight", {c.vocab_size, H});
  w.final_norm = b.need("model.norm.weight", {H});
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    w.lm_head = b.need("lm_head.weight", {c.vocab_size, H});
  }
  if (c.is_deepseek()) return w;  // layers: bind_deepseek_layers
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    LayerWeights L;
    L.attn_norm = b.need(p + "input_layernorm.weight", {H});
    L.wq = b.need(p + "self_attn.q_proj.weight", {Q, H});
    L.wk = b.need(p + "self_attn.k_proj.weight", {KV, H});
    L.wv = b.need(p + "self_attn.v_proj.weight", {KV, H});
    L.wo = b.need(p + "self_attn.o_proj.weight", {H, Q});
    L.bq = b.maybe(p + "self_attn.q_proj.bias", {Q}, c.qkv_bias);
    L.bk = b.maybe(p + "self_attn.k_proj.bias", {KV}, c.qkv_bias);
    L.bv = b.maybe(p + "self_attn.v_proj.bias", {KV}, c.qkv_bias);
    L.bo = b.maybe(p + "self_attn.o_proj.bias", {H}, c.o_bias);
    if (c.qk_norm) {
      L.q_norm = b.need(p + "self_attn.q_norm.weight", {c.head_dim});
      L.k_norm = b.need(p + "self_attn.k_norm.weight", {c.head_dim});
    }
    L.mlp_norm = b.need(p + "post_attention_layernorm.weight", {H});
    L.w_gate = b.need(p + "mlp.gate_proj.weight", {I, H});
    L.w_up = b.need(p + "mlp.up_proj.weight", {I, H});
    L.w_down = b.need(p + "mlp.down_proj.weight", {H, I});
    L.b_gate = b.maybe(p + "mlp.gate_proj.bias", {I}, c.mlp_bias);
    L.b_up = b.maybe(p + "mlp.up_proj.bias", {I}, c.mlp_bias);
    L.b_down = b.maybe(p + "mlp.down_proj.bias", {H}, c.mlp_bias);
    w.layers.push_back(L);
  }
  return w;
}

int64_t Model::parameter_count() const {
  int64_t n = weights.embed.numel() + weights.final_norm.numel();
  if (weights.lm_head.data != weights.embed.data) n += weights.lm_head.numel();
  for (const auto& L : weights.layers) {
    for (const TensorView* t :
         {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.bo, &L.q_norm, &L.k_norm,
          &L.mlp_norm, &L.w_gate, &L.w_up, &L.w_down, &L.b_gate, &L.b_up, &L.b_down})
      if (*t) n += t->numel();
  }
  for (const auto& L : deepseek_layers) n += deepseek_layer_parameters(L);
  return n;
}

std::shared_ptr<const Model> load_model(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) fail(dir.string(), ": not a model folder");
  auto m = std::make_shared<Model>();
  m->dir = dir;
  m->name = std::filesystem::absolute(dir).lexically_normal().filename().string();
  if (m->name.empty())
    m->name = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();
  m->config = load_hf_config(dir);
  m->stop_ids = m->config.eos_token_ids;
  const auto gen = dir / "generation_config.json";
  if (std::filesystem::exists(gen)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(gen));
    } catch (const nlohmann::json::exception& ex) {
      fail(gen.string(), ": not valid JSON: ", ex.what());
    }
    const auto eos = j.is_object() ? j.find("eos_token_id") : j.end();
    if (j.is_object() && eos != j.end() && !eos->is_null()) {
      std::vector<nlohmann::json> items =
          eos->is_array() ? eos->get<std::vector<nlohmann::json>>() : std::vector<nlohmann::json>{*eos};
      for (const auto& e : items) {
        if (!e.is_number_integer())
          fail(gen.string(), ": field \"eos_token_id\" must be an integer or a list of integers");
        if (std::find(m->stop_ids.begin(), m->stop_ids.end(), e.get<int64_t>()) == m->stop_ids.end())
          m->stop_ids.push_back(e.get<int64_t>());
      }
    }
  }
  auto store = std::make_shared<SafetensorsStore>(dir);
  m->weights = bind_weights(m->config, *store);
  if (m->config.is_deepseek())
    m->deepseek_layers = bind_deepseek_layers(m->config, *store, m->weights.embed.dtype);
  m->store = std::move(store);
  return m;
}

}  // namespace r1
