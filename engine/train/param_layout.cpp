#include "param_layout.h"

#include "engine/core/error.h"

namespace r1 {

const ParamTensor* ParamLayout::find(const std::string& name) const {
  for (const ParamTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

class LayoutBuilder {
 public:
  explicit LayoutBuilder(ParamLayout& out) : out_(out) {}
  int64_t add(std::string name, Shape shape) {
    ParamTensor t;
    t.name = std::move(name);
    t.decay = shape.size() >= 2;
    t.shape = std::move(shape);
    t.offset = out_.total;
    out_.total += t.numel();
    out_.tensors.push_back(std::move(t));
    return out_.tensors.back().offset;
  }

 private:
  ParamLayout& out_;
};

void add_dense_attention(LayoutBuilder& b, const ModelConfig& c, const std::string& p, LayerParams& L) {
  const int64_t C = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim();
  L.wqkv = b.add(p + "self_attn.q_proj.weight", {Q, C});
  b.add(p + "self_attn.k_proj.weight", {KV, C});
  b.add(p + "self_attn.v_proj.weight", {KV, C});
  if (c.qkv_bias) {
    L.bqkv = b.add(p + "self_attn.q_proj.bias", {Q});
    b.add(p + "self_attn.k_proj.bias", {KV});
    b.add(p + "self_attn.v_proj.bias", {KV});
  }
  if (c.qk_norm) {
    L.q_norm = b.add(p + "self_attn.q_norm.weight", {c.head_dim});
    L.k_norm = b.add(p + "self_attn.k_norm.weight", {c.head_dim});
  }
  L.wo = b.add(p + "self_attn.o_proj.weight", {C, Q});
  if (c.o_bias) L.bo = b.add(p + "self_attn.o_proj.bias", {C});
}

void add_mla_attention(LayoutBuilder& b, const ModelConfig& c, const std::string& p, LayerParams& L) {
  const MlaConfig& a = c.mla;
  const int64_t C = c.hidden_size, H = c.num_heads, QK = H * a.qk_head_dim();
  if (a.q_lora_rank > 0) {
    L.w_a = b.add(p + "self_attn.q_a_proj.weight", {a.q_lora_rank, C});
    b.add(p + "self_attn.kv_a_proj_with_mqa.weight", {a.latent_dim(), C});
    L.q_a_norm = b.add(p + "self_attn.q_a_layernorm.weight", {a.q_lora_rank});
    L.wq_b = b.add(p + "self_attn.q_b_proj.weight", {QK, a.q_lora_rank});
  } else {
    L.wq_b = b.add(p + "self_attn.q_proj.weight", {QK, C});
    L.w_a = b.add(p + "self_attn.kv_a_proj_with_mqa.weight", {a.latent_dim(), C});
  }
  L.kv_a_norm = b.add(p + "self_attn.kv_a_layernorm.weight", {a.kv_lora_rank});
  L.wkv_b =
      b.add(p + "self_attn.kv_b_proj.weight", {H * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank});
  L.wo = b.add(p + "self_attn.o_proj.weight", {C, H * a.v_head_dim});
}

// A SwiGLU MLP under `p` (dense, shared experts, or one routed expert); returns the fused [gate; up] offset.
int64_t add_mlp(LayoutBuilder& b, const ModelConfig& c, const std::string& p, int64_t inter, bool bias,
                int64_t* w_down, int64_t* b_gate_up = nullptr, int64_t* b_down = nullptr) {
  const int64_t C = c.hidden_size;
  const int64_t w_gate_up = b.add(p + "gate_proj.weight", {inter, C});
  b.add(p + "up_proj.weight", {inter, C});
  if (bias) {
    *b_gate_up = b.add(p + "gate_proj.bias", {inter});
    b.add(p + "up_proj.bias", {inter});
  }
  *w_down = b.add(p + "down_proj.weight", {C, inter});
  if (bias) *b_down = b.add(p + "down_proj.bias", {C});
  return w_gate_up;
}

void add_moe(LayoutBuilder& b, const ModelConfig& c, const std::string& p, LayerParams& L) {
  const MoeConfig& m = c.moe;
  L.router = b.add(p + "mlp.gate.weight", {m.n_routed_experts, c.hidden_size});
  L.expert_gate_up.resize(size_t(m.n_routed_experts));
  L.expert_down.resize(size_t(m.n_routed_experts));
  for (int64_t e = 0; e < m.n_routed_experts; ++e)
    L.expert_gate_up[size_t(e)] = add_mlp(b, c, cat(p, "mlp.experts.", e, "."), m.moe_intermediate_size,
                                          false, &L.expert_down[size_t(e)]);
  if (m.n_shared_experts > 0) {
    L.mlp_inter = m.n_shared_experts * m.moe_intermediate_size;
    L.w_gate_up = add_mlp(b, c, p + "mlp.shared_experts.", L.mlp_inter, false, &L.w_down);
  }
}

}  // namespace

bool is_moe_layer(const ModelConfig& c, int64_t l) {
  return c.is_deepseek() && c.moe.n_routed_experts > 0 && l >= c.moe.first_k_dense_replace;
}

ParamLayout make_param_layout(const ModelConfig& c) {
  if (c.is_deepseek() && (c.qkv_bias || c.o_bias)) fail("training does not support DeepSeek attention_bias");
  ParamLayout out;
  LayoutBuilder b(out);
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  out.embed = b.add("model.embed_tokens.weight", {c.vocab_size, C});
  out.layers.resize(size_t(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = cat("model.layers.", l, ".");
    LayerParams& L = out.layers[size_t(l)];
    L.attn_norm = b.add(p + "input_layernorm.weight", {C});
    if (c.is_deepseek())
      add_mla_attention(b, c, p, L);
    else
      add_dense_attention(b, c, p, L);
    L.mlp_norm = b.add(p + "post_attention_layernorm.weight", {C});
    if (is_moe_layer(c, l)) {
      add_moe(b, c, p, L);
    } else {
      L.mlp_inter = I;
      L.w_gate_up = add_mlp(b, c, p + "mlp.", I, c.mlp_bias, &L.w_down, &L.b_gate_up, &L.b_down);
    }
  }
  out.final_norm = b.add("model.norm.weight", {C});
  out.lm_head = c.tie_word_embeddings ? out.embed : b.add("lm_head.weight", {c.vocab_size, C});
  return out;
}

}  // namespace r1
