#include <nlohmann/json.hpp>

#include "config.h"
#include "deepseek.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "json_fields.h"

namespace r1 {
namespace {

using nlohmann::json;

RopeConfig parse_rope(const json& root, const std::string& origin) {
  RopeConfig rope;
  const JsonFields top{root, origin};
  rope.theta = top.number("rope_theta", 10000.0);
  rope.partial_rotary_factor = top.number("partial_rotary_factor", 1.0);
  // transformers 5 writes rope_parameters (with rope_theta inside); older files write rope_scaling.
  const json* params = top.get("rope_parameters");
  std::string field = "rope_parameters";
  if (!params) {
    params = top.get("rope_scaling");
    field = "rope_scaling";
  }
  if (!params) return rope;
  if (!params->is_object()) top.bad(field, "must be an object");
  const std::string sub_origin = cat(origin, ": ", field);
  const JsonFields r{*params, sub_origin};
  rope.theta = r.number("rope_theta", rope.theta);
  rope.partial_rotary_factor = r.number("partial_rotary_factor", rope.partial_rotary_factor);
  std::string type = r.string("rope_type", r.string("type", "default"));
  if (type == "default") {
    rope.type = RopeType::Default;
  } else if (type == "linear") {
    rope.type = RopeType::Linear;
  } else if (type == "llama3") {
    rope.type = RopeType::Llama3;
  } else if (type == "yarn") {
    rope.type = RopeType::Yarn;
  } else {
    r.bad("rope_type", cat("\"", type, "\" is not supported (supported: default, linear, llama3, yarn)"));
  }
  if (rope.type != RopeType::Default) {
    rope.factor = r.number("factor", 0.0);
    if (!(rope.factor > 0)) r.bad("factor", "must be a positive number");
  }
  rope.low_freq_factor = r.number("low_freq_factor", 1.0);
  rope.high_freq_factor = r.number("high_freq_factor", 4.0);
  rope.original_max_position = r.integer("original_max_position_embeddings", 0, false, 1);
  rope.beta_fast = r.number("beta_fast", 32.0);
  rope.beta_slow = r.number("beta_slow", 1.0);
  rope.mscale = r.number("mscale", 0.0);
  rope.mscale_all_dim = r.number("mscale_all_dim", 0.0);
  rope.attention_factor = r.number("attention_factor", 0.0);
  rope.truncate = r.boolean("truncate", true);
  if (rope.type == RopeType::Llama3) {
    if (rope.original_max_position == 0)
      r.bad("original_max_position_embeddings", "is required for llama3 scaling");
    if (!(rope.high_freq_factor > rope.low_freq_factor))
      r.bad("high_freq_factor", "must exceed low_freq_factor");
  }
  if (!(rope.theta > 0)) r.bad("rope_theta", "must be positive");
  return rope;
}

// Sizes whose products leave 64-bit arithmetic cannot describe a real model. Counting the parameters in
// floating point (where nothing overflows) and refusing more than 10^15 keeps every later size computation
// (tensor shapes, q_dim, parameter counts, memory plans) in range.
void check_size_fits(const ModelConfig& c, const std::string& origin) {
  constexpr double kMaxParameters = 1e15;
  const double D = double(c.hidden_size), H = double(c.num_heads);
  double layer = 2 * D * H * double(c.head_dim) + 2 * D * double(c.num_kv_heads) * double(c.head_dim) +
                 3 * D * double(c.intermediate_size);
  if (c.is_deepseek()) {
    const MlaConfig& a = c.mla;
    const MoeConfig& m = c.moe;
    const double qk = double(a.qk_nope_head_dim) + double(a.qk_rope_head_dim), v = double(a.v_head_dim);
    layer += double(a.q_lora_rank) * (D + H * qk) + H * qk * D + D * (double(a.kv_lora_rank) + qk) +
             double(a.kv_lora_rank) * H * (qk + v) + H * v * D +
             (double(m.n_routed_experts) + double(m.n_shared_experts) + 1) * 3 * D *
                 double(m.moe_intermediate_size) +
             double(m.n_routed_experts) * D;
  }
  const double total = double(c.num_layers) * layer + 2 * double(c.vocab_size) * D;
  if (!(total <= kMaxParameters))
    fail(origin, ": the sizes (hidden_size ", c.hidden_size, ", intermediate_size ", c.intermediate_size,
         ", num_hidden_layers ", c.num_layers, ", num_attention_heads ", c.num_heads, ", head_dim ",
         c.head_dim, ", vocab_size ", c.vocab_size, "...) describe ", total, " parameters, more than the ",
         kMaxParameters, " any model can have; is a size mistyped?");
}

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Llama:
      return "LlamaForCausalLM";
    case Arch::Qwen2:
      return "Qwen2ForCausalLM";
    case Arch::Qwen3:
      return "Qwen3ForCausalLM";
    case Arch::DeepseekV2:
      return "DeepseekV2ForCausalLM";
    case Arch::DeepseekV3:
      return "DeepseekV3ForCausalLM";
  }
  return "?";
}

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default:
      return "default";
    case RopeType::Linear:
      return "linear";
    case RopeType::Llama3:
      return "llama3";
    case RopeType::Yarn:
      return "yarn";
  }
  return "?";
}

std::vector<std::string> supported_architectures() {
  return {arch_name(Arch::Llama), arch_name(Arch::Qwen2), arch_name(Arch::Qwen3), arch_name(Arch::DeepseekV2),
          arch_name(Arch::DeepseekV3)};
}

ModelConfig parse_hf_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& ex) {
    fail(origin, ": not valid JSON: ", ex.what());
  }
  if (!j.is_object()) fail(origin, ": not a JSON object");
  const JsonFields r{j, origin};
  ModelConfig c;
  const json* archs = r.get("architectures");
  if (archs) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      r.bad("architectures", "must be a list of names");
    c.architecture = (*archs)[0].get<std::string>();
  } else {
    const std::string mt = r.string("model_type", "");
    if (mt == "llama") c.architecture = arch_name(Arch::Llama);
    if (mt == "qwen2") c.architecture = arch_name(Arch::Qwen2);
    if (mt == "qwen3") c.architecture = arch_name(Arch::Qwen3);
    if (mt == "deepseek_v2") c.architecture = arch_name(Arch::DeepseekV2);
    if (mt == "deepseek_v3") c.architecture = arch_name(Arch::DeepseekV3);
    if (c.architecture.empty())
      fail(origin, ": neither \"architectures\" nor a known \"model_type\" is given");
  }
  bool known = false;
  for (Arch a : {Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::DeepseekV2, Arch::DeepseekV3}) {
    if (c.architecture == arch_name(a)) {
      c.arch = a;
      known = true;
    }
  }
  if (!known) {
    std::string list;
    for (const auto& s : supported_architectures()) list += (list.empty() ? "" : ", ") + s;
    fail(origin, ": architecture \"", c.architecture, "\" is not supported; supported: ", list);
  }
  c.vocab_size = r.integer("vocab_size", 0, true);
  c.hidden_size = r.integer("hidden_size", 0, true);
  c.intermediate_size = r.integer("intermediate_size", 0, true);
  c.num_layers = r.integer("num_hidden_layers", 0, true);
  c.num_heads = r.integer("num_attention_heads", 0, true);
  c.num_kv_heads = r.integer("num_key_value_heads", c.num_heads);
  if (c.num_heads % c.num_kv_heads != 0)
    r.bad("num_key_value_heads",
          cat("(", c.num_kv_heads, ") must divide num_attention_heads (", c.num_heads, ")"));
  if (c.arch != Arch::Qwen3 && !c.is_deepseek() && !r.get("head_dim") && c.hidden_size % c.num_heads != 0)
    r.bad("hidden_size",
          cat("(", c.hidden_size, ") must be a multiple of num_attention_heads (", c.num_heads, ")"));
  c.head_dim = r.integer("head_dim", c.hidden_size / c.num_heads);
  if (c.head_dim % 2 != 0) r.bad("head_dim", cat("must be even, found ", c.head_dim));
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0)) r.bad("rms_norm_eps", "must be positive");
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  const std::string act = r.string("hidden_act", "silu");
  if (act != "silu") r.bad("hidden_act", cat("\"", act, "\" is not supported (only silu)"));
  const bool attention_bias = r.boolean("attention_bias", false);
  switch (c.arch) {
    case Arch::Llama:
      c.qkv_bias = c.o_bias = attention_bias;
      c.mlp_bias = r.boolean("mlp_bias", false);
      break;
    case Arch::Qwen2:
      c.qkv_bias = true;
      if (r.boolean("use_sliding_window", false))
        r.bad("use_sliding_window", "is true; sliding-window attention is not supported");
      break;
    case Arch::Qwen3:
      c.qkv_bias = c.o_bias = attention_bias;
      c.qk_norm = true;
      if (r.boolean("use_sliding_window", false))
        r.bad("use_sliding_window", "is true; sliding-window attention is not supported");
      break;
    case Arch::DeepseekV2:
    case Arch::DeepseekV3:
      parse_deepseek_config(j, origin, c);
      break;
  }
  c.rope = parse_rope(j, origin);
  if (!(c.rope.partial_rotary_factor > 0 && c.rope.partial_rotary_factor <= 1))
    r.bad("partial_rotary_factor", cat("must be in (0, 1], found ", c.rope.partial_rotary_factor));
  const int64_t rot = c.rotary_dim();
  if (rot <= 0 || rot > c.head_dim || rot % 2 != 0)
    r.bad("partial_rotary_factor", cat("gives a rotary dimension of ", rot, " for head_dim ", c.head_dim));
  c.bos_token_id = r.integer("bos_token_id", -1, false, 0);
  if (const json* eos = r.get("eos_token_id")) {
    if (eos->is_number_integer()) {
      c.eos_token_ids.push_back(eos->get<int64_t>());
    } else if (eos->is_array()) {
      for (const auto& e : *eos) {
        if (!e.is_number_integer()) r.bad("eos_token_id", "must be an integer or a list of integers");
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      r.bad("eos_token_id", "must be an integer or a list of integers");
    }
  }
  c.torch_dtype = r.string("dtype", r.string("torch_dtype", ""));
  check_size_fits(c, origin);
  return c;
}

ModelConfig load_hf_config(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  if (!std::filesystem::exists(path)) fail(dir.string(), ": no config.json in the model folder");
  return parse_hf_config(read_text_file(path), path.string());
}

}  // namespace r1
