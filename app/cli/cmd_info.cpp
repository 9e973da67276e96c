#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "engine/model/model.h"

namespace r1::cli {

int cmd_info(const ArgList& argv) {
  const Args args(argv, {"model"}, {"json"});
  const auto model = load_model(args.require("model"));
  const ModelConfig& c = model->config;
  std::map<std::string, int64_t> dtypes;
  for (const auto& name : model->store->names()) dtypes[std::string(dtype_name(model->store->find(name).dtype))] += 1;
  const int64_t elem = int64_t(dtype_size(model->weight_dtype()));
  const int64_t kv_per_token_layer = 2 * c.kv_dim() * elem;
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
  std::printf("attention        %lld heads, %lld KV heads (group %lld), head_dim %lld%s%s\n", (long long)c.num_heads,
              (long long)c.num_kv_heads, (long long)(c.num_heads / c.num_kv_heads), (long long)c.head_dim,
              c.qkv_bias ? ", q/k/v bias" : "", c.qk_norm ? ", q/k norm" : "");
  std::printf("vocabulary       %lld%s\n", (long long)c.vocab_size, c.tie_word_embeddings ? " (tied embeddings)" : "");
  std::printf("rope             %s, theta %g%s\n", rope_type_name(c.rope.type), c.rope.theta,
              c.rope.type == RopeType::Default ? "" : (", factor " + std::to_string(c.rope.factor)).c_str());
  std::printf("context          %lld positions\n", (long long)c.max_position_embeddings);
  std::printf("KV cache         %lld bytes/token (%lld per layer, %s)\n", (long long)(kv_per_token_layer * c.num_layers),
              (long long)kv_per_token_layer, std::string(dtype_name(model->weight_dtype())).c_str());
  return 0;
}

}  // namespace r1::cli
