// Named model shapes with random weights, so speed can be measured without downloading a checkpoint.
// The shapes match shared/peers/torch_peer.py.
#include <cmath>

#include "engine/core/error.h"
#include "kernels/common/half.h"
#include "kernels/cpu/parallel.h"
#include "model.h"

namespace r1 {
namespace {

ModelConfig qwen2_shape(int64_t vocab, int64_t hidden, int64_t inter, int64_t layers, int64_t heads,
                        int64_t kv, double theta, int64_t max_pos, bool tied) {
  ModelConfig c;
  c.arch = Arch::Qwen2;
  c.architecture = arch_name(Arch::Qwen2);
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = inter;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.head_dim = hidden / heads;
  c.rms_norm_eps = 1e-6;
  c.rope.theta = theta;
  c.max_position_embeddings = max_pos;
  c.tie_word_embeddings = tied;
  c.qkv_bias = true;
  c.eos_token_ids = {151643};
  c.torch_dtype = "bfloat16";
  return c;
}

// deepseek-ai/DeepSeek-V2-Lite's config.json; `layers` below 27 gives a scaled-down copy for small machines.
ModelConfig deepseek_v2_lite_shape(int64_t layers) {
  ModelConfig c;
  c.arch = Arch::DeepseekV2;
  c.architecture = arch_name(Arch::DeepseekV2);
  c.vocab_size = 102400;
  c.hidden_size = 2048;
  c.intermediate_size = 10944;
  c.num_layers = layers;
  c.num_heads = 16;
  c.num_kv_heads = 16;
  c.rms_norm_eps = 1e-6;
  c.max_position_embeddings = 163840;
  c.mla = {.q_lora_rank = 0,
           .kv_lora_rank = 512,
           .qk_nope_head_dim = 128,
           .qk_rope_head_dim = 64,
           .v_head_dim = 128,
           .rope_interleave = true};
  c.head_dim = c.mla.qk_rope_head_dim;
  c.moe = {.n_routed_experts = 64,
           .num_experts_per_tok = 6,
           .n_shared_experts = 2,
           .moe_intermediate_size = 1408,
           .first_k_dense_replace = 1,
           .n_group = 1,
           .topk_group = 1,
           .scoring = MoeScoring::Softmax,
           .topk_method = MoeTopkMethod::Greedy,
           .norm_topk_prob = false,
           .routed_scaling_factor = 1.0};
  c.rope.type = RopeType::Yarn;
  c.rope.theta = 10000.0;
  c.rope.factor = 40.0;
  c.rope.original_max_position = 4096;
  c.rope.beta_fast = 32.0;
  c.rope.beta_slow = 1.0;
  c.rope.mscale = 0.707;
  c.rope.mscale_all_dim = 0.707;
  c.bos_token_id = 100000;
  c.eos_token_ids = {100001};
  c.torch_dtype = "bfloat16";
  return c;
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fill_random(void* dst, DType dtype, int64_t n, float stddev, uint64_t seed) {
  const float a = stddev * std::sqrt(3.0f);  // uniform(-a, a) has this standard deviation
  cpu::parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        uint64_t s = seed ^ (uint64_t(b) * 0x9e3779b97f4a7c15ull);
        for (int64_t i = b; i < e; ++i) {
          const float u = float(splitmix(s) >> 40) * (1.0f / 16777216.0f);
          const float v = (2 * u - 1) * a;
          if (dtype == DType::F32) {
            static_cast<float*>(dst)[i] = v;
          } else if (dtype == DType::BF16) {
            static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
          } else {
            static_cast<uint16_t*>(dst)[i] = f32_to_f16(v);
          }
        }
      },
      1 << 16);
}

void fill_ones(void* dst, DType dtype, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::F32) {
      static_cast<float*>(dst)[i] = 1.0f;
    } else {
      static_cast<uint16_t*>(dst)[i] = dtype == DType::BF16 ? f32_to_bf16(1.0f) : f32_to_f16(1.0f);
    }
  }
}

}  // namespace

std::vector<std::string> known_shapes() {
  return {"r1-distill-qwen-1.5b", "qwen2.5-0.5b", "qwen3-0.6b", "deepseek-v2-lite", "deepseek-v2-lite-4l"};
}

ModelConfig shape_config(const std::string& shape) {
  if (shape == "r1-distill-qwen-1.5b")
    return qwen2_shape(151936, 1536, 8960, 28, 12, 2, 10000.0, 131072, false);
  if (shape == "qwen2.5-0.5b") return qwen2_shape(151936, 896, 4864, 24, 14, 2, 1e6, 32768, true);
  if (shape == "qwen3-0.6b") {
    ModelConfig c = qwen2_shape(151936, 1024, 3072, 28, 16, 8, 1e6, 40960, true);
    c.arch = Arch::Qwen3;
    c.architecture = arch_name(Arch::Qwen3);
    c.head_dim = 128;
    c.qkv_bias = false;
    c.qk_norm = true;
    c.eos_token_ids = {151645};
    return c;
  }
  if (shape == "deepseek-v2-lite") return deepseek_v2_lite_shape(27);
  if (shape == "deepseek-v2-lite-4l") return deepseek_v2_lite_shape(4);
  std::string list;
  for (const auto& s : known_shapes()) list += (list.empty() ? "" : ", ") + s;
  fail("unknown shape \"", shape, "\"; known shapes: ", list);
}

std::shared_ptr<const Model> random_model(const ModelConfig& c, DType dtype, uint64_t seed, float stddev) {
  if (!is_float_weight(dtype)) fail("random weights must be F32, F16 or BF16");
  if (c.is_deepseek())
    check_random_weights_fit(c, dtype, cat(c.architecture, " (", c.num_layers, " layers)"));
  auto store = std::make_shared<MemoryStore>();
  uint64_t tensor_seed = seed;
  const auto add = [&](const std::string& name, const Shape& shape, bool ones = false) {
    void* p = store->add(name, dtype, shape);
    if (ones) {
      fill_ones(p, dtype, numel(shape));
    } else {
      fill_random(p, dtype, numel(shape), stddev, splitmix(tensor_seed));
    }
  };
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
  add("model.embed_tokens.weight", {c.vocab_size, H});
  add("model.norm.weight", {H}, true);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, H});
  std::vector<DeepseekLayerWeights> deepseek_layers;
  if (c.is_deepseek())
    for (const DeepseekTensor& t : deepseek_layer_tensors(c, deepseek_layers))
      add(t.name, t.shape, t.is_norm);
  for (int64_t l = 0; !c.is_deepseek() && l < c.num_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    add(p + "input_layernorm.weight", {H}, true);
    add(p + "post_attention_layernorm.weight", {H}, true);
    add(p + "self_attn.q_proj.weight", {Q, H});
    add(p + "self_attn.k_proj.weight", {KV, H});
    add(p + "self_attn.v_proj.weight", {KV, H});
    add(p + "self_attn.o_proj.weight", {H, Q});
    if (c.qkv_bias) {
      add(p + "self_attn.q_proj.bias", {Q});
      add(p + "self_attn.k_proj.bias", {KV});
      add(p + "self_attn.v_proj.bias", {KV});
    }
    if (c.o_bias) add(p + "self_attn.o_proj.bias", {H});
    if (c.qk_norm) {
      add(p + "self_attn.q_norm.weight", {c.head_dim}, true);
      add(p + "self_attn.k_norm.weight", {c.head_dim}, true);
    }
    add(p + "mlp.gate_proj.weight", {I, H});
    add(p + "mlp.up_proj.weight", {I, H});
    add(p + "mlp.down_proj.weight", {H, I});
  }
  auto m = std::make_shared<Model>();
  m->config = c;
  m->name = "random";
  m->weights = bind_weights(c, *store);
  if (c.is_deepseek()) m->deepseek_layers = bind_deepseek_layers(c, *store, dtype);
  m->store = std::move(store);
  return m;
}

}  // namespace r1
