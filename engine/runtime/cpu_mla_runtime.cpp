// CPU backend for DeepSeek-V2/V3 (arXiv 2405.04434, 2412.19437). The KV cache holds only the latent form of
// each token: the normalised c_kv (kv_lora_rank) and the roped shared key k_pe (qk_rope_head_dim). Attention
// either rebuilds per-head keys and values from it (expanded) or folds W_UK into the query and W_UV into the
// output and attends over the latent directly (absorbed). Feed-forward is a dense MLP in the first layers,
// then routed and shared experts. fp32 activations, weights in their stored dtype; every buffer is sized when
// the runtime is created, forward allocates nothing.
#include "cpu_mla_runtime.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/core/host_memory.h"
#include "engine/model/rope.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/mla.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"

namespace r1 {
namespace {

// transformers builds q_a_layernorm and kv_a_layernorm with the RMSNorm default eps, not rms_norm_eps.
constexpr float kLatentNormEps = 1e-6f;

std::vector<float> to_f32(const TensorView& t) {
  if (!t) return {};
  std::vector<float> out(static_cast<size_t>(t.numel()));
  cpu::widen_row(out.data(), t.data, t.dtype, t.numel());
  return out;
}

struct LayerVectors {  // small per-layer tensors widened to fp32 once
  std::vector<float> attn_norm, mlp_norm, q_a_norm, kv_a_norm, router_bias;
  std::vector<cpu::ExpertMatrices> experts;
};

class CpuMlaRuntime final : public Runtime {
 public:
  CpuMlaRuntime(std::shared_ptr<const Model> model, const RuntimeOptions& o)
      : Runtime(std::move(model), o), path_(o.mla_path) {
    const ModelConfig& c = config();
    const MlaConfig& a = c.mla;
    const MoeConfig& m = c.moe;
    if (a.kv_lora_rank > cpu::kMaxAttentionDim || a.v_head_dim > cpu::kMaxAttentionDim)
      fail(model_->name, ": kv_lora_rank ", a.kv_lora_rank, " and v_head_dim ", a.v_head_dim,
           " must not exceed the CPU attention width of ", cpu::kMaxAttentionDim);
    D_ = c.hidden_size, H_ = c.num_heads, nope_ = a.qk_nope_head_dim, rope_dim_ = a.qk_rope_head_dim;
    qk_ = a.qk_head_dim(), dv_ = a.v_head_dim, lora_ = a.kv_lora_rank, latent_ = a.latent_dim();
    scale_ = float(mla_softmax_scale(c));
    const int64_t T = max_batch_tokens_, C = max_context_;
    const int64_t ffn = std::max(c.intermediate_size, m.n_shared_experts * m.moe_intermediate_size);
    latent_floats_per_layer_ = C * latent_;
    const int64_t cache_floats = int64_t(max_sequences_) * c.num_layers * latent_floats_per_layer_;
    BufferSizer sized;
    const auto buffers = [&] {
      sized(latent_cache_, cache_floats);
      sized(x_, T * D_);
      sized(h_, T * D_);
      sized(q_, T * H_ * qk_);
      sized(q_lora_, T * a.q_lora_rank);
      sized(kv_a_, T * latent_);
      sized(att_, T * H_ * dv_);
      sized(gate_, T * ffn);
      sized(up_, T * ffn);
      sized(ffn_out_, T * D_);
      if (path_ != MlaPath::Absorbed) {
        sized(c_kv_, C * lora_);
        sized(kv_b_, C * H_ * (nope_ + dv_));
        sized(k_full_, C * H_ * qk_);
        sized(v_full_, C * H_ * dv_);
      }
      if (path_ != MlaPath::Expanded) {
        sized(q_absorbed_, T * H_ * latent_);
        sized(o_latent_, T * H_ * lora_);
      }
      const cpu::RouterConfig rc = moe_router_config(m, nullptr);
      sized(router_logits_, T * m.n_routed_experts);
      sized(route_scratch_, cpu::moe_route_scratch_floats(rc));
      sized(expert_weights_, T * m.num_experts_per_tok);
      sized(moe_x_, T * D_);
      sized(moe_y_, T * D_);
      sized(moe_gate_, T * m.moe_intermediate_size);
      sized(moe_up_, T * m.moe_intermediate_size);
      sized(moe_row_weights_, T * m.num_experts_per_tok);
      sized(moe_out_, T * D_);
      const int64_t widest = std::max({D_, c.intermediate_size, H_ * dv_, a.q_lora_rank, lora_, ffn});
      sized(panel_, cpu::linear_scratch_floats(widest));
      sized(rope_, C * c.rotary_dim());
    };
    buffers();
    check_host_memory(
        "the CPU MLA runtime",
        {{"latent KV cache", cache_floats * 4}, {"activations", sized.bytes() - cache_floats * 4}},
        cat("the cache holds ", max_sequences_, " x ", max_context_,
            " tokens; lower the context or the number of sequences"));
    sized.allocate();
    try {
      buffers();
    } catch (const std::bad_alloc&) {
      throw OutOfMemoryError(cat("not enough host memory for the CPU MLA runtime: latent KV cache ",
                                 cache_floats * 4 / (1 << 20), " MiB for ", max_sequences_, " x ",
                                 max_context_, " tokens; lower the context or the number of sequences"));
    }
    expert_ids_.resize(static_cast<size_t>(T * m.num_experts_per_tok));
    moe_rows_.resize(static_cast<size_t>(T * m.num_experts_per_tok));
    moe_offsets_.resize(static_cast<size_t>(m.n_routed_experts + 1));
    ids_.resize(static_cast<size_t>(T));
    positions_.resize(static_cast<size_t>(T));
    out_rows_.resize(static_cast<size_t>(T));
    rows_.resize(static_cast<size_t>(T));
    fill_rope_table(rope_.data(), rope_frequencies(c), max_context_);
    final_norm_ = to_f32(model_->weights.final_norm);
    for (const DeepseekLayerWeights& L : model_->deepseek_layers) {
      LayerVectors v{to_f32(L.attn_norm), to_f32(L.mlp_norm),    to_f32(L.q_a_norm),
                     to_f32(L.kv_a_norm), to_f32(L.router_bias), {}};
      for (const ExpertWeights& e : L.experts) v.experts.push_back({e.gate.data, e.up.data, e.down.data});
      layers_.push_back(std::move(v));
    }
    load_.layers = c.num_layers;
    load_.experts = m.n_routed_experts;
    load_.tokens.assign(static_cast<size_t>(c.num_layers * m.n_routed_experts), 0);
  }

  Device device() const override { return Device::Cpu; }

  std::string device_description() const override {
    const char* path = path_ == MlaPath::Auto ? "auto" : path_ == MlaPath::Expanded ? "expanded" : "absorbed";
    return cat("CPU, ", cpu::num_threads(), " threads, fp32 compute, ", dtype_name(model_->weight_dtype()),
               " weights, MLA latent cache (", latent_, " values/token/layer, ", path, " attention)");
  }

  KvCacheStats kv_stats() const override {
    KvCacheStats s = usage_stats();
    s.bytes_per_token_layer = latent_ * int64_t(sizeof(float));
    s.bytes_per_token = s.bytes_per_token_layer * config().num_layers;
    s.capacity_tokens = int64_t(max_sequences_) * max_context_;
    s.total_bytes = s.bytes_per_token * s.capacity_tokens;
    return s;
  }

  const ExpertLoad* expert_load() const override { return &load_; }
  void reset_expert_load() override { std::fill(load_.tokens.begin(), load_.tokens.end(), 0); }

 protected:
  void on_fork(int src, int dst) override {
    const int64_t n = lengths_[size_t(src)] * latent_;
    for (int64_t l = 0; l < config().num_layers; ++l)
      std::copy_n(latent_cache(src, l), n, latent_cache(dst, l));
  }

  void forward_chunk(std::span<const SequenceInput> batch, const int64_t* starts,
                     LogitTarget target) override {
    if (target.on_device) fail("the CPU runtime cannot write logits to device memory");
    const ModelConfig& c = config();
    const ModelWeights& W = model_->weights;
    int64_t T = 0, n_out = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto& e = batch[b];
      for (size_t i = 0; i < e.tokens.size(); ++i, ++T) {
        ids_[size_t(T)] = e.tokens[i];
        positions_[size_t(T)] = int32_t(starts[b] + int64_t(i));
        if (e.all_logits || i + 1 == e.tokens.size()) out_rows_[size_t(n_out++)] = T;
      }
    }
    const float eps = float(c.rms_norm_eps);
    cpu::embedding_forward(x_.data(), ids_.data(), W.embed.data, W.embed.dtype, T, D_);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const DeepseekLayerWeights& L = model_->deepseek_layers[size_t(l)];
      const LayerVectors& V = layers_[size_t(l)];
      cpu::rmsnorm_forward(h_.data(), x_.data(), V.attn_norm.data(), T, D_, eps);
      attention(l, batch, starts, T);
      linear(h_.data(), att_.data(), L.o_proj, T, H_ * dv_, D_);
      cpu::add_inplace(x_.data(), h_.data(), T * D_);
      cpu::rmsnorm_forward(h_.data(), x_.data(), V.mlp_norm.data(), T, D_, eps);
      if (L.is_moe()) {
        mixture_of_experts(l, T);
        cpu::add_inplace(x_.data(), moe_out_.data(), T * D_);
      } else {
        mlp(ffn_out_.data(), L.dense, c.intermediate_size, T);
        cpu::add_inplace(x_.data(), ffn_out_.data(), T * D_);
      }
    }
    if (!target.data) return;
    for (int64_t r = 0; r < n_out; ++r)
      cpu::rmsnorm_forward(h_.data() + r * D_, x_.data() + out_rows_[size_t(r)] * D_, final_norm_.data(), 1,
                           D_, eps);
    linear(target.data, h_.data(), W.lm_head, n_out, D_, c.vocab_size);
  }

 private:
  float* latent_cache(int seq, int64_t layer) {
    return latent_cache_.data() + (int64_t(seq) * config().num_layers + layer) * latent_floats_per_layer_;
  }

  void linear(float* y, const float* x, const TensorView& w, int64_t T, int64_t in, int64_t out) {
    cpu::linear_forward(y, x, w.data, w.dtype, nullptr, T, in, out, {panel_.data(), int64_t(panel_.size())});
  }

  bool absorbed(size_t tokens) const {
    return path_ == MlaPath::Absorbed || (path_ == MlaPath::Auto && tokens == 1);
  }

  // h_ (normed input) -> att_ [T, H * d_v], attention outputs before o_proj.
  void attention(int64_t l, std::span<const SequenceInput> batch, const int64_t* starts, int64_t T) {
    const DeepseekLayerWeights& L = model_->deepseek_layers[size_t(l)];
    const LayerVectors& V = layers_[size_t(l)];
    const MlaConfig& a = config().mla;
    // Queries: q_proj(h), or q_b_proj(RMSNorm(q_a_proj(h))) through a low-rank bottleneck.
    if (a.q_lora_rank == 0) {
      linear(q_.data(), h_.data(), L.q_proj, T, D_, H_ * qk_);
    } else {
      linear(q_lora_.data(), h_.data(), L.q_a_proj, T, D_, a.q_lora_rank);
      cpu::rmsnorm_forward(q_lora_.data(), q_lora_.data(), V.q_a_norm.data(), T, a.q_lora_rank,
                           kLatentNormEps);
      linear(q_.data(), q_lora_.data(), L.q_b_proj, T, a.q_lora_rank, H_ * qk_);
    }
    // Latent: [c_kv | k_pe] = kv_a_proj_with_mqa(h). RoPE on each head's q_pe and on the one shared k_pe.
    linear(kv_a_.data(), h_.data(), L.kv_a_proj, T, D_, latent_);
    const int64_t rot = config().rotary_dim();
    cpu::rope_forward(q_.data() + nope_, positions_.data(), rope_.data(), T, H_, qk_, rot, a.rope_interleave);
    cpu::rope_forward(kv_a_.data() + lora_, positions_.data(), rope_.data(), T, 1, latent_, rot,
                      a.rope_interleave);
    // The cache keeps [RMSNorm(c_kv) | k_pe] per token, and nothing else.
    int64_t row = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      float* cache = latent_cache(batch[b].seq, l);
      for (size_t i = 0; i < batch[b].tokens.size(); ++i, ++row) {
        float* dst = cache + int64_t(positions_[size_t(row)]) * latent_;
        const float* src = kv_a_.data() + row * latent_;
        cpu::rmsnorm_forward(dst, src, V.kv_a_norm.data(), 1, lora_, kLatentNormEps);
        std::copy_n(src + lora_, rope_dim_, dst + lora_);
        rows_[size_t(row)] = {cache, cache, positions_[size_t(row)] + 1};
      }
    }
    // Consecutive absorbed entries run as one batch; expanded entries one by one.
    int64_t run_begin = 0, run_rows = 0;
    row = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const int64_t n = int64_t(batch[b].tokens.size());
      if (absorbed(batch[b].tokens.size())) {
        if (run_rows == 0) run_begin = row;
        run_rows += n;
      } else {
        if (run_rows > 0) attend_absorbed(L, run_begin, run_rows);
        run_rows = 0;
        attend_expanded(L, batch[b].seq, l, row, n, starts[b] + n);
      }
      row += n;
    }
    if (run_rows > 0) attend_absorbed(L, run_begin, run_rows);
  }

  // Per-head keys and values of positions [0, length) rebuilt from the latent: [k_nope | v] =
  // kv_b_proj(c_kv), k = [k_nope | k_pe] with k_pe shared by every head; then attention as in MHA.
  void attend_expanded(const DeepseekLayerWeights& L, int seq, int64_t l, int64_t row0, int64_t n,
                       int64_t length) {
    const float* cache = latent_cache(seq, l);
    for (int64_t j = 0; j < length; ++j) std::copy_n(cache + j * latent_, lora_, c_kv_.data() + j * lora_);
    linear(kv_b_.data(), c_kv_.data(), L.kv_b_proj, length, lora_, H_ * (nope_ + dv_));
    cpu::parallel_for(length, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        for (int64_t h = 0; h < H_; ++h) {
          const float* kv = kv_b_.data() + (j * H_ + h) * (nope_ + dv_);
          float* k = k_full_.data() + (j * H_ + h) * qk_;
          std::copy_n(kv, nope_, k);
          std::copy_n(cache + j * latent_ + lora_, rope_dim_, k + nope_);
          std::copy_n(kv + nope_, dv_, v_full_.data() + (j * H_ + h) * dv_);
        }
      }
    });
    for (int64_t i = 0; i < n; ++i)
      rows_[size_t(row0 + i)] = {k_full_.data(), v_full_.data(), positions_[size_t(row0 + i)] + 1};
    cpu::attention_forward(att_.data() + row0 * H_ * dv_, q_.data() + row0 * H_ * qk_, rows_.data() + row0, n,
                           H_, H_, qk_, dv_, H_ * qk_, H_ * dv_, scale_);
  }

  // MQA over the latent: query [W_UK^T q_nope | q_pe] per head against the cached [c_kv | k_pe]; the softmax-
  // weighted c_kv goes through W_UV. rows_ already point every row at its sequence's cache.
  void attend_absorbed(const DeepseekLayerWeights& L, int64_t row0, int64_t n) {
    const TensorView& kv_b = L.kv_b_proj;
    const float* q = q_.data() + row0 * H_ * qk_;
    cpu::mla_absorb_query_forward(q_absorbed_.data(), latent_, q, qk_, kv_b.data, kv_b.dtype, n, H_, nope_,
                                  dv_, lora_);
    for (int64_t u = 0; u < n * H_; ++u)
      std::copy_n(q + u * qk_ + nope_, rope_dim_, q_absorbed_.data() + u * latent_ + lora_);
    cpu::attention_forward(o_latent_.data(), q_absorbed_.data(), rows_.data() + row0, n, H_, 1, latent_,
                           lora_, latent_, latent_, scale_);
    cpu::mla_absorb_output_forward(att_.data() + row0 * H_ * dv_, o_latent_.data(), kv_b.data, kv_b.dtype, n,
                                   H_, nope_, dv_, lora_);
  }

  // out = down(silu(gate h) * up h) over the T rows of h_.
  void mlp(float* out, const ExpertWeights& w, int64_t inter, int64_t T) {
    linear(gate_.data(), h_.data(), w.gate, T, D_, inter);
    linear(up_.data(), h_.data(), w.up, T, D_, inter);
    cpu::swiglu_forward(gate_.data(), gate_.data(), up_.data(), T * inter);
    linear(out, gate_.data(), w.down, T, inter, D_);
  }

  // moe_out_ = sum of the top-k routed experts, weighted by the router, plus the shared experts.
  void mixture_of_experts(int64_t l, int64_t T) {
    const DeepseekLayerWeights& L = model_->deepseek_layers[size_t(l)];
    const LayerVectors& V = layers_[size_t(l)];
    const MoeConfig& m = config().moe;
    const int64_t E = m.n_routed_experts, k = m.num_experts_per_tok;
    linear(router_logits_.data(), h_.data(), L.router, T, D_, E);
    const cpu::RouterConfig rc = moe_router_config(m, V.router_bias.empty() ? nullptr : V.router_bias.data());
    cpu::moe_route_forward(expert_ids_.data(), expert_weights_.data(), router_logits_.data(), T, rc,
                           route_scratch_.data());
    std::fill_n(moe_out_.data(), T * D_, 0.0f);
    const cpu::MoeScratch scratch{moe_x_.data(),           moe_gate_.data(),
                                  moe_up_.data(),          moe_y_.data(),
                                  moe_offsets_.data(),     moe_rows_.data(),
                                  moe_row_weights_.data(), {panel_.data(), int64_t(panel_.size())}};
    cpu::moe_experts_forward(moe_out_.data(), h_.data(), expert_ids_.data(), expert_weights_.data(), T, k, E,
                             D_, m.moe_intermediate_size, V.experts.data(), model_->weight_dtype(), scratch,
                             load_.tokens.data() + l * E);
    if (!L.shared.gate) return;
    mlp(ffn_out_.data(), L.shared, m.n_shared_experts * m.moe_intermediate_size, T);
    cpu::add_inplace(moe_out_.data(), ffn_out_.data(), T * D_);
  }

  MlaPath path_;
  ExpertLoad load_;
  int64_t D_ = 0, H_ = 0, nope_ = 0, rope_dim_ = 0, qk_ = 0, dv_ = 0, lora_ = 0, latent_ = 0;
  float scale_ = 1.0f;
  int64_t latent_floats_per_layer_ = 0;
  std::vector<float> latent_cache_;  // [seq][layer][pos][c_kv | k_pe]
  std::vector<float> x_, h_, q_, q_lora_, kv_a_, att_, gate_, up_, ffn_out_;
  std::vector<float> c_kv_, kv_b_, k_full_, v_full_;  // expanded path, [context, ...]
  std::vector<float> q_absorbed_, o_latent_;          // absorbed path
  std::vector<float> router_logits_, route_scratch_, expert_weights_, moe_x_, moe_y_, moe_gate_, moe_up_,
      moe_row_weights_, moe_out_;
  std::vector<int32_t> expert_ids_, moe_rows_, moe_offsets_;
  std::vector<float> panel_, rope_, final_norm_;
  std::vector<int32_t> ids_, positions_;
  std::vector<int64_t> out_rows_;
  std::vector<cpu::AttentionRow> rows_;
  std::vector<LayerVectors> layers_;
};

}  // namespace

std::unique_ptr<Runtime> create_cpu_mla_runtime(std::shared_ptr<const Model> model,
                                                const RuntimeOptions& options) {
  if (!model->config.is_deepseek()) fail(model->name, ": the MLA runtime runs DeepSeek-V2/V3 models only");
  return std::make_unique<CpuMlaRuntime>(std::move(model), options);
}

}  // namespace r1
