#include "train_memory.h"

#include <algorithm>
#include <cstdio>

#include "engine/core/error.h"
#include "param_layout.h"
#include "train_buffers.h"

namespace r1 {

TrainDims make_train_dims(const ModelConfig& c, int64_t B, int64_t L, bool recompute, int64_t chunk_rows) {
  if (B <= 0 || L <= 0) fail("training batch and sequence length must be positive (got ", B, " x ", L, ")");
  TrainDims d;
  d.B = B, d.L = L, d.T = B * L;
  d.C = c.hidden_size, d.I = c.intermediate_size, d.V = c.vocab_size, d.n_layers = c.num_layers;
  d.H = c.num_heads;
  d.recompute = recompute;
  d.chunk = std::clamp<int64_t>(chunk_rows, 1, d.T);
  d.first_moe = d.n_layers;
  for (int64_t l = 0; l < d.n_layers; ++l)
    if (is_moe_layer(c, l)) {
      d.first_moe = l;
      break;
    }
  if (d.moe_layers() > 0) {
    const MoeConfig& m = c.moe;
    d.E = m.n_routed_experts, d.top_k = m.num_experts_per_tok, d.Ie = m.moe_intermediate_size;
    d.Is = m.n_shared_experts * m.moe_intermediate_size;
    d.G = m.topk_method == MoeTopkMethod::Greedy ? 1 : m.n_group;
  }
  if (c.is_deepseek()) {
    const MlaConfig& a = c.mla;
    d.mla = true;
    d.KVH = c.num_heads;
    d.dn = a.qk_nope_head_dim, d.dr = a.qk_rope_head_dim;
    d.Dk = a.qk_head_dim(), d.Dv = a.v_head_dim;
    d.rot_dim = a.qk_rope_head_dim;
    d.q_lora = a.q_lora_rank > 0;
    d.ql = a.q_lora_rank, d.kvl = a.kv_lora_rank;
    d.a_dim = d.ql + a.latent_dim();
  } else {
    d.KVH = c.num_kv_heads;
    d.Dk = d.Dv = c.head_dim;
    d.rot_dim = c.rotary_dim();
    d.qk_norm = c.qk_norm;
    d.qkv_dim = c.q_dim() + 2 * c.kv_dim();
  }
  return d;
}

int64_t lm_head_chunk_rows(int64_t tokens, int64_t vocab, int act_bytes, int64_t budget_bytes) {
  const int64_t per_row = vocab * (4 + act_bytes);
  return std::clamp<int64_t>(budget_bytes / std::max<int64_t>(per_row, 1), 1, std::max<int64_t>(tokens, 1));
}

namespace {
struct Half16 {
  uint16_t bits;
};
}  // namespace

TrainMemoryPlan plan_train_memory(const ModelConfig& c, int64_t batch, int64_t seq, bool recompute,
                                  int64_t chunk_rows, int act_bytes, bool compute_copy, bool flash_attention,
                                  int64_t attention_scratch_bytes) {
  const ParamLayout layout = make_param_layout(c);
  TrainDims d = make_train_dims(c, batch, seq, recompute, chunk_rows);
  d.flash = flash_attention;
  Carver cv;
  if (act_bytes == 2) {
    TrainBuffers<Half16> b;
    carve_buffers(cv, b, d, size_t(attention_scratch_bytes));
  } else {
    TrainBuffers<float> b;
    carve_buffers(cv, b, d, size_t(attention_scratch_bytes));
  }
  TrainMemoryPlan p;
  p.parameters = layout.total;
  p.weights_bytes = compute_copy ? layout.total * 2 : 0;
  p.master_bytes = layout.total * 4;
  p.grads_bytes = layout.total * 4;
  p.optimizer_bytes = layout.total * 8;
  p.activations_bytes = int64_t(cv.used());
  p.lm_head_chunk_rows = d.chunk;
  p.batch = batch, p.seq = seq, p.recompute = recompute, p.flash_attention = flash_attention;
  return p;
}

std::string TrainMemoryPlan::describe() const {
  const double gib = 1024.0 * 1024.0 * 1024.0;
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "weights %.2f GiB, master %.2f GiB, gradients %.2f GiB, optimizer %.2f GiB, activations %.2f GiB "
      "(batch %lld x %lld%s%s, LM head %lld rows at once); total %.2f GiB",
      double(weights_bytes) / gib, double(master_bytes) / gib, double(grads_bytes) / gib,
      double(optimizer_bytes) / gib, double(activations_bytes) / gib, static_cast<long long>(batch),
      static_cast<long long>(seq), recompute ? ", recomputed" : "",
      flash_attention ? ", flash attention" : "", static_cast<long long>(lm_head_chunk_rows),
      double(total_bytes()) / gib);
  return buf;
}

}  // namespace r1
