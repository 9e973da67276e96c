#include "deepseek.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/host_memory.h"
#include "json_fields.h"
#include "model.h"

namespace r1 {
namespace {

using nlohmann::json;

void parse_mla(const JsonFields& f, ModelConfig& c) {
  MlaConfig& a = c.mla;
  if (!f.j.contains("q_lora_rank")) f.bad("q_lora_rank", "is missing (null selects a direct q_proj)");
  a.q_lora_rank = f.get("q_lora_rank") ? f.integer("q_lora_rank", 0, true) : 0;
  a.kv_lora_rank = f.integer("kv_lora_rank", 0, true);
  a.qk_nope_head_dim = f.integer("qk_nope_head_dim", 0, true);
  a.qk_rope_head_dim = f.integer("qk_rope_head_dim", 0, true);
  a.v_head_dim = f.integer("v_head_dim", 0, true);
  if (a.qk_rope_head_dim % 2 != 0) f.bad("qk_rope_head_dim", cat("must be even, found ", a.qk_rope_head_dim));
  // transformers' DeepseekV2 rotates adjacent pairs (complex form) whatever the config says.
  a.rope_interleave = c.arch == Arch::DeepseekV3 ? f.boolean("rope_interleave", true) : true;
  c.head_dim = a.qk_rope_head_dim;
  if (f.boolean("attention_bias", false))
    f.bad("attention_bias", "is true; biases in DeepSeek attention are not supported");
  if (f.boolean("mlp_bias", false)) f.bad("mlp_bias", "is true; biases in DeepSeek MLPs are not supported");
}

void parse_moe(const JsonFields& f, ModelConfig& c) {
  const bool v3 = c.arch == Arch::DeepseekV3;
  MoeConfig& m = c.moe;
  m.n_routed_experts = f.integer("n_routed_experts", 0, true);
  m.num_experts_per_tok = f.integer("num_experts_per_tok", 0, true);
  m.moe_intermediate_size = f.integer("moe_intermediate_size", 0, true);
  m.n_shared_experts = f.integer("n_shared_experts", v3 ? 1 : 2, false, 0);
  m.first_k_dense_replace = f.integer("first_k_dense_replace", v3 ? 3 : 0, false, 0);
  m.n_group = f.integer("n_group", v3 ? 8 : 1);
  m.topk_group = f.integer("topk_group", v3 ? 4 : 1);
  m.norm_topk_prob = f.boolean("norm_topk_prob", v3);
  m.routed_scaling_factor = f.number("routed_scaling_factor", v3 ? 2.5 : 1.0);
  if (!(m.routed_scaling_factor > 0)) f.bad("routed_scaling_factor", "must be positive");
  if (f.integer("moe_layer_freq", 1) != 1)
    f.bad("moe_layer_freq", "must be 1; every layer from first_k_dense_replace on is a MoE layer");
  if (m.num_experts_per_tok > m.n_routed_experts)
    f.bad("num_experts_per_tok",
          cat("(", m.num_experts_per_tok, ") must not exceed n_routed_experts (", m.n_routed_experts, ")"));

  const std::string scoring = f.string("scoring_func", v3 ? "sigmoid" : "softmax");
  if (scoring != (v3 ? "sigmoid" : "softmax"))
    f.bad("scoring_func", cat("\"", scoring, "\" is not supported for ", c.architecture, " (",
                              v3 ? "sigmoid" : "softmax", " only)"));
  m.scoring = v3 ? MoeScoring::Sigmoid : MoeScoring::Softmax;
  const std::string method = f.string("topk_method", v3 ? "noaux_tc" : "greedy");
  if (v3) {
    if (method != "noaux_tc")
      f.bad("topk_method",
            cat("\"", method, "\" is not supported for DeepseekV3ForCausalLM (noaux_tc only)"));
    m.topk_method = MoeTopkMethod::NoAuxTc;
  } else if (method == "greedy") {
    m.topk_method = MoeTopkMethod::Greedy;
  } else if (method == "group_limited_greedy") {
    m.topk_method = MoeTopkMethod::GroupLimitedGreedy;
  } else {
    f.bad("topk_method", cat("\"", method, "\" is not supported (greedy, group_limited_greedy)"));
  }
  if (!v3 && m.norm_topk_prob)
    f.bad("norm_topk_prob",
          "is true for DeepseekV2ForCausalLM; transformers ignores it there while DeepSeek's own code "
          "renormalises, "
          "so the intended routing is ambiguous");
  if (m.topk_method != MoeTopkMethod::Greedy) {
    if (m.n_routed_experts % m.n_group != 0)
      f.bad("n_group", cat("(", m.n_group, ") must divide n_routed_experts (", m.n_routed_experts, ")"));
    if (m.topk_group > m.n_group)
      f.bad("topk_group", cat("(", m.topk_group, ") must not exceed n_group (", m.n_group, ")"));
    const int64_t per_group = m.n_routed_experts / m.n_group;
    if (v3 && per_group < 2)
      f.bad("n_group", cat("(", m.n_group, ") leaves ", per_group,
                           " expert per group; groups are ranked by their top two"));
    if (m.num_experts_per_tok > m.topk_group * per_group)
      f.bad("num_experts_per_tok", cat("(", m.num_experts_per_tok, ") exceeds the ", m.topk_group * per_group,
                                       " experts of the topk_group (", m.topk_group, ") groups kept"));
  }
  c.mtp_layers = f.integer("num_nextn_predict_layers", f.integer("num_mtp_layers", 0, false, 0), false, 0);
}

}  // namespace

void parse_deepseek_config(const json& j, const std::string& origin, ModelConfig& c) {
  const JsonFields f{j, origin};
  parse_mla(f, c);
  parse_moe(f, c);
}

cpu::RouterConfig moe_router_config(const MoeConfig& m, const float* selection_bias) {
  cpu::RouterConfig r;
  r.n_experts = m.n_routed_experts;
  r.top_k = m.num_experts_per_tok;
  r.scoring = m.scoring == MoeScoring::Softmax ? cpu::RouterScoring::Softmax : cpu::RouterScoring::Sigmoid;
  if (m.topk_method != MoeTopkMethod::Greedy) {
    r.n_group = m.n_group;
    r.topk_group = m.topk_group;
    r.group_score = m.topk_method == MoeTopkMethod::NoAuxTc ? cpu::GroupScore::SumTop2 : cpu::GroupScore::Max;
  }
  r.selection_bias = selection_bias;
  r.normalize = m.norm_topk_prob;
  r.scaling = float(m.routed_scaling_factor);
  return r;
}

double mla_softmax_scale(const ModelConfig& c) {
  double scale = 1.0 / std::sqrt(double(c.mla.qk_head_dim()));
  const RopeConfig& r = c.rope;
  if (r.type != RopeType::Default && r.mscale_all_dim != 0 && r.factor > 1) {
    const double mscale = 0.1 * r.mscale_all_dim * std::log(r.factor) + 1.0;
    scale *= mscale * mscale;
  }
  return scale;
}

int64_t mla_latent_values_per_token(const ModelConfig& c) {
  return c.mla.latent_dim();
}

int64_t mha_values_per_token(const ModelConfig& c) {
  return c.num_heads * (c.mla.qk_head_dim() + c.mla.v_head_dim);
}

std::vector<DeepseekTensor> deepseek_layer_tensors(const ModelConfig& c,
                                                   std::vector<DeepseekLayerWeights>& layers) {
  const MlaConfig& a = c.mla;
  const MoeConfig& m = c.moe;
  const int64_t D = c.hidden_size, H = c.num_heads, QK = H * a.qk_head_dim(), E = m.n_routed_experts;
  layers.assign(static_cast<size_t>(c.num_layers), {});
  std::vector<DeepseekTensor> out;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    DeepseekLayerWeights& L = layers[size_t(l)];
    const std::string p = cat("model.layers.", l, ".");
    const auto add = [&](const std::string& name, Shape shape, TensorView* field, bool norm = false,
                         bool any_dtype = false) {
      out.push_back({p + name, std::move(shape), field, norm, any_dtype});
    };
    const auto mlp = [&](const std::string& prefix, ExpertWeights& w, int64_t inter) {
      add(prefix + "gate_proj.weight", {inter, D}, &w.gate);
      add(prefix + "up_proj.weight", {inter, D}, &w.up);
      add(prefix + "down_proj.weight", {D, inter}, &w.down);
    };
    add("input_layernorm.weight", {D}, &L.attn_norm, true);
    if (a.q_lora_rank == 0) {
      add("self_attn.q_proj.weight", {QK, D}, &L.q_proj);
    } else {
      add("self_attn.q_a_proj.weight", {a.q_lora_rank, D}, &L.q_a_proj);
      add("self_attn.q_a_layernorm.weight", {a.q_lora_rank}, &L.q_a_norm, true);
      add("self_attn.q_b_proj.weight", {QK, a.q_lora_rank}, &L.q_b_proj);
    }
    add("self_attn.kv_a_proj_with_mqa.weight", {a.latent_dim(), D}, &L.kv_a_proj);
    add("self_attn.kv_a_layernorm.weight", {a.kv_lora_rank}, &L.kv_a_norm, true);
    add("self_attn.kv_b_proj.weight", {H * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank},
        &L.kv_b_proj);
    add("self_attn.o_proj.weight", {D, H * a.v_head_dim}, &L.o_proj);
    add("post_attention_layernorm.weight", {D}, &L.mlp_norm, true);
    if (l < m.first_k_dense_replace) {
      mlp("mlp.", L.dense, c.intermediate_size);
      continue;
    }
    add("mlp.gate.weight", {E, D}, &L.router);
    if (c.arch == Arch::DeepseekV3) add("mlp.gate.e_score_correction_bias", {E}, &L.router_bias, false, true);
    L.experts.resize(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e)
      mlp(cat("mlp.experts.", e, "."), L.experts[size_t(e)], m.moe_intermediate_size);
    if (m.n_shared_experts > 0)
      mlp("mlp.shared_experts.", L.shared, m.n_shared_experts * m.moe_intermediate_size);
  }
  return out;
}

std::vector<DeepseekLayerWeights> bind_deepseek_layers(const ModelConfig& c, const WeightStore& store,
                                                       DType dtype) {
  std::vector<DeepseekLayerWeights> layers;
  for (const DeepseekTensor& spec : deepseek_layer_tensors(c, layers)) {
    const TensorView t = store.find(spec.name);
    const std::string origin = store.origin(spec.name);
    if (!t) fail(origin, ": missing tensor '", spec.name, "' (expected shape ", shape_str(spec.shape), ")");
    if (t.shape != spec.shape)
      fail(origin, ": tensor '", spec.name, "' has shape ", shape_str(t.shape), ", expected ",
           shape_str(spec.shape));
    if (!is_float_weight(t.dtype))
      fail(origin, ": tensor '", spec.name, "' has dtype ", dtype_name(t.dtype),
           "; weights must be F32, F16 or BF16");
    if (!spec.any_float_dtype && t.dtype != dtype)
      fail(origin, ": tensor '", spec.name, "' is ", dtype_name(t.dtype), " but the embedding is ",
           dtype_name(dtype), "; mixed weight dtypes are not supported");
    *spec.field = t;
  }
  return layers;
}

int64_t mtp_tensor_count(const ModelConfig& c, const WeightStore& store) {
  const std::string prefix = "model.layers.";
  int64_t n = 0;
  for (const std::string& name : store.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t dot = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), dot - prefix.size());
    if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos &&
        std::stoll(index) >= c.num_layers)
      ++n;
  }
  return n;
}

int64_t deepseek_layer_parameters(const DeepseekLayerWeights& L) {
  int64_t n = 0;
  for (const TensorView* t :
       {&L.attn_norm, &L.q_proj, &L.q_a_proj, &L.q_a_norm, &L.q_b_proj, &L.kv_a_proj, &L.kv_a_norm,
        &L.kv_b_proj, &L.o_proj, &L.mlp_norm, &L.dense.gate, &L.dense.up, &L.dense.down, &L.router,
        &L.router_bias, &L.shared.gate, &L.shared.up, &L.shared.down})
    if (*t) n += t->numel();
  for (const ExpertWeights& e : L.experts) n += e.gate.numel() + e.up.numel() + e.down.numel();
  return n;
}

int64_t deepseek_active_parameters(const ModelConfig& c) {
  const MlaConfig& a = c.mla;
  const MoeConfig& m = c.moe;
  const int64_t D = c.hidden_size, H = c.num_heads, QK = H * a.qk_head_dim();
  const int64_t q = a.q_lora_rank == 0 ? QK * D : a.q_lora_rank * (D + 1 + QK);
  const int64_t attention = 2 * D + q + a.latent_dim() * D + a.kv_lora_rank +
                            H * (a.qk_nope_head_dim + a.v_head_dim) * a.kv_lora_rank + D * H * a.v_head_dim;
  const int64_t dense = 3 * D * c.intermediate_size;
  const int64_t moe =
      m.n_routed_experts * D + (m.num_experts_per_tok + m.n_shared_experts) * 3 * D * m.moe_intermediate_size;
  const int64_t dense_layers = std::min(m.first_k_dense_replace, c.num_layers);
  return c.num_layers * attention + dense_layers * dense + (c.num_layers - dense_layers) * moe + D +
         c.vocab_size * D;
}

int64_t deepseek_weight_bytes_per_step(const Model& model, int64_t batch) {
  const ModelConfig& c = model.config;
  const double k = double(c.moe.num_experts_per_tok), E = double(c.moe.n_routed_experts);
  const double experts_hit = E > 0 ? std::min(E, E * (1.0 - std::pow(1.0 - k / E, double(batch)))) : 0.0;
  double bytes = double(model.weights.lm_head.nbytes());
  for (const DeepseekLayerWeights& L : model.deepseek_layers) {
    for (const TensorView* t :
         {&L.q_proj, &L.q_a_proj, &L.q_b_proj, &L.kv_a_proj, &L.kv_b_proj, &L.o_proj, &L.dense.gate,
          &L.dense.up, &L.dense.down, &L.router, &L.shared.gate, &L.shared.up, &L.shared.down})
      if (*t) bytes += double(t->nbytes());
    if (!L.experts.empty()) {
      const ExpertWeights& e = L.experts.front();
      bytes += experts_hit * double(e.gate.nbytes() + e.up.nbytes() + e.down.nbytes());
    }
  }
  return int64_t(std::llround(bytes));
}

void check_random_weights_fit(const ModelConfig& c, DType dtype, const std::string& what) {
  std::vector<DeepseekLayerWeights> scratch;
  int64_t params = c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2) + c.hidden_size;
  for (const DeepseekTensor& t : deepseek_layer_tensors(c, scratch)) params += numel(t.shape);
  const int64_t bytes = params * int64_t(dtype_size(dtype));
  const int64_t available = host_available_bytes();
  // Leave a tenth for the runtime's buffers and the rest of the process.
  if (available > 0 && double(bytes) > 0.9 * double(available)) {
    constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
    throw OutOfMemoryError(cat(
        "random ", dtype_name(dtype), " weights for ", what, " need ",
        std::round(double(bytes) / GiB * 10) / 10, " GiB (", params, " parameters) but only ",
        std::round(double(available) / GiB * 10) / 10,
        " GiB of host memory is available; use a smaller shape (deepseek-v2-lite-4l) or a larger machine"));
  }
}

}  // namespace r1
