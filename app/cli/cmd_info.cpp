#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "engine/model/model.h"

namespace r1::cli {
namespace {

const char* routing_name(const MoeConfig& m) {
  switch (m.topk_method) {
    case MoeTopkMethod::Greedy:
      return "softmax, greedy top-k";
    case MoeTopkMethod::GroupLimitedGreedy:
      return "softmax, group-limited top-k";
    case MoeTopkMethod::NoAuxTc:
      return "sigmoid + correction bias, group-limited top-k";
  }
  return "?";
}

void add_deepseek_json(nlohmann::ordered_json& j, const Model& model) {
  const ModelConfig& c = model.config;
  const MlaConfig& a = c.mla;
  const MoeConfig& m = c.moe;
  j["mla"] = {{"q_lora_rank", a.q_lora_rank},
              {"kv_lora_rank", a.kv_lora_rank},
              {"qk_nope_head_dim", a.qk_nope_head_dim},
              {"qk_rope_head_dim", a.qk_rope_head_dim},
              {"v_head_dim", a.v_head_dim},
              {"rope_interleave", a.rope_interleave},
              {"softmax_scale", mla_softmax_scale(c)}};
  j["moe"] = {{"n_routed_experts", m.n_routed_experts},
              {"num_experts_per_tok", m.num_experts_per_tok},
              {"n_shared_experts", m.n_shared_experts},
              {"moe_intermediate_size", m.moe_intermediate_size},
              {"first_k_dense_replace", m.first_k_dense_replace},
              {"n_group", m.n_group},
              {"topk_group", m.topk_group},
              {"routing", routing_name(m)},
              {"norm_topk_prob", m.norm_topk_prob},
              {"routed_scaling_factor", m.routed_scaling_factor}};
  j["active_parameters"] = deepseek_active_parameters(c);
  j["kv_cache_latent_values_per_token_per_layer"] = mla_latent_values_per_token(c);
  j["kv_cache_mha_values_per_token_per_layer"] = mha_values_per_token(c);
  j["mtp_layers"] = c.mtp_layers;
  j["mtp_tensors_skipped"] = mtp_tensor_count(c, *model.store);
}

void print_deepseek_layers(const Model& model) {
  const ModelConfig& c = model.config;
  const MlaConfig& a = c.mla;
  const MoeConfig& m = c.moe;
  std::printf(
      "attention        MLA, %lld heads: q_lora_rank %s, kv_lora_rank %lld, qk_nope %lld + qk_rope %lld%s, "
      "v_head %lld, softmax scale %.6g\n",
      (long long)c.num_heads, a.q_lora_rank ? std::to_string(a.q_lora_rank).c_str() : "none (q_proj)",
      (long long)a.kv_lora_rank, (long long)a.qk_nope_head_dim, (long long)a.qk_rope_head_dim,
      a.rope_interleave ? " (interleaved rope)" : "", (long long)a.v_head_dim, mla_softmax_scale(c));
  std::printf(
      "experts          %lld routed (top %lld; %s), %lld shared, intermediate %lld; dense MLP in the first "
      "%lld layer(s)\n",
      (long long)m.n_routed_experts, (long long)m.num_experts_per_tok, routing_name(m),
      (long long)m.n_shared_experts, (long long)m.moe_intermediate_size, (long long)m.first_k_dense_replace);
  std::printf("active params    %lld per token (%.3f B)\n", (long long)deepseek_active_parameters(c),
              double(deepseek_active_parameters(c)) / 1e9);
}

void print_deepseek_cache(const Model& model) {
  const ModelConfig& c = model.config;
  const MlaConfig& a = c.mla;
  const int64_t latent = mla_latent_values_per_token(c), mha = mha_values_per_token(c);
  std::printf(
      "                 MLA latent: %lld values/token/layer (kv_lora %lld + rope %lld); full per-head K/V "
      "(MHA) would need %lld (latent is %.1f%%)\n",
      (long long)latent, (long long)a.kv_lora_rank, (long long)a.qk_rope_head_dim, (long long)mha,
      100.0 * double(latent) / double(mha));
  const int64_t skipped = mtp_tensor_count(c, *model.store);
  if (c.mtp_layers > 0 || skipped > 0)
    std::printf(
        "note             %lld multi-token-prediction layer(s) in config.json, %lld tensor(s) past layer "
        "%lld: not loaded (next-token decoding only)\n",
        (long long)c.mtp_layers, (long long)skipped, (long long)(c.num_layers - 1));
}

}  // namespace

int cmd_info(const ArgList& argv) {
  const Args args(argv, {"model"}, {"json"});
  const auto model = load_model(args.require("model"));
  const ModelConfig& c = model->config;
  std::map<std::string, int64_t> dtypes;
  for (const auto& name : model->store->names())
    dtypes[std::string(dtype_name(model->store->find(name).dtype))] += 1;
  const int64_t elem = int64_t(dtype_size(model->weight_dtype()));
  const int64_t kv_per_token_layer =
      (c.is_deepseek() ? mla_latent_values_per_token(c) : 2 * c.kv_dim()) * elem;
  nlohmann::ordered_json j;
  j["model"] = model->dir.string();
  j["architecture"] = c.architecture;
  j["parameters"] = model->parameter_count();
  j["weight_dtype"] = std::string(dtype_name(model->weight_dtype()));
  j["tensor_dtypes"] = dtypes;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["layers"] = c.num_layers;
  j["attention_heads"] = c.num_heads;
  j["kv_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rope"] = {{"type", rope_type_name(c.rope.type)}, {"theta", c.rope.theta}, {"factor", c.rope.factor}};
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["qkv_bias"] = c.qkv_bias;
  j["qk_norm"] = c.qk_norm;
  j["kv_cache_bytes_per_token"] = kv_per_token_layer * c.num_layers;
  j["kv_cache_bytes_per_token_per_layer"] = kv_per_token_layer;
  j["kv_cache_dtype"] = std::string(dtype_name(model->weight_dtype()));
  if (c.is_deepseek()) add_deepseek_json(j, *model);
  if (args.has("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model            %s\n", model->dir.string().c_str());
  std::printf("architecture     %s\n", c.architecture.c_str());
  std::printf("parameters       %lld (%.3f B)\n", (long long)model->parameter_count(),
              double(model->parameter_count()) / 1e9);
  std::printf("weights          %s", std::string(dtype_name(model->weight_dtype())).c_str());
  for (const auto& [dt, n] : dtypes) std::printf("  [%s: %lld tensors]", dt.c_str(), (long long)n);
  std::printf("\nlayers           %lld\n", (long long)c.num_layers);
  std::printf("hidden           %lld (MLP %lld)\n", (long long)c.hidden_size, (long long)c.intermediate_size);
  if (c.is_deepseek()) {
    print_deepseek_layers(*model);
  } else {
    std::printf("attention        %lld heads, %lld KV heads (group %lld), head_dim %lld%s%s\n",
                (long long)c.num_heads, (long long)c.num_kv_heads, (long long)(c.num_heads / c.num_kv_heads),
                (long long)c.head_dim, c.qkv_bias ? ", q/k/v bias" : "", c.qk_norm ? ", q/k norm" : "");
  }
  std::printf("vocabulary       %lld%s\n", (long long)c.vocab_size,
              c.tie_word_embeddings ? " (tied embeddings)" : "");
  std::printf("rope             %s, theta %g%s\n", rope_type_name(c.rope.type), c.rope.theta,
              c.rope.type == RopeType::Default ? "" : (", factor " + std::to_string(c.rope.factor)).c_str());
  std::printf("context          %lld positions\n", (long long)c.max_position_embeddings);
  std::printf("KV cache         %lld bytes/token (%lld per layer, %s)\n",
              (long long)(kv_per_token_layer * c.num_layers), (long long)kv_per_token_layer,
              std::string(dtype_name(model->weight_dtype())).c_str());
  if (c.is_deepseek()) print_deepseek_cache(*model);
  return 0;
}

}  // namespace r1::cli
