// CPU backend for the Llama-family decoder (Llama, Qwen2, Qwen3): fp32 activations, weights read in their
// stored dtype. Every buffer is sized when the runtime is created; forward allocates nothing.
#include "cpu_runtime.h"
#include "cpu_mla_runtime.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "engine/core/error.h"
#include "engine/core/host_memory.h"
#include "engine/model/rope.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"

namespace r1 {
namespace {

// Absent optional tensors (biases, q/k norms) give an empty vector, passed on as a null pointer.
std::vector<float> to_f32(const TensorView& t) {
  if (!t) return {};
  std::vector<float> out(static_cast<size_t>(t.numel()));
  cpu::widen_row(out.data(), t.data, t.dtype, t.numel());
  return out;
}

struct LayerVectors {  // small per-layer tensors widened to fp32 once
  std::vector<float> attn_norm, mlp_norm, q_norm, k_norm, bq, bk, bv, bo, b_gate, b_up, b_down;
};

const float* ptr(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

class CpuRuntime final : public Runtime {
 public:
  CpuRuntime(std::shared_ptr<const Model> model, const RuntimeOptions& o) : Runtime(std::move(model), o) {
    const ModelConfig& c = config();
    const int64_t T = max_batch_tokens_;
    kv_floats_per_layer_ = max_context_ * c.kv_dim();
    const int64_t cache_floats = int64_t(max_sequences_) * c.num_layers * kv_floats_per_layer_;
    BufferSizer sized;
    const auto buffers = [&] {
      sized(k_cache_, cache_floats);
      sized(v_cache_, cache_floats);
      sized(x_, T * c.hidden_size);
      sized(h_, T * c.hidden_size);
      sized(q_, T * c.q_dim());
      sized(k_, T * c.kv_dim());
      sized(v_, T * c.kv_dim());
      sized(att_, T * c.q_dim());
      sized(gate_, T * c.intermediate_size);
      sized(up_, T * c.intermediate_size);
      const int64_t widest = std::max({c.hidden_size, c.intermediate_size, c.q_dim()});
      sized(panel_, cpu::linear_scratch_floats(widest));
      sized(rope_, max_context_ * c.rotary_dim());
    };
    buffers();
    check_host_memory(
        "the CPU runtime",
        {{"KV cache", 2 * cache_floats * 4}, {"activations", sized.bytes() - 2 * cache_floats * 4}},
        cat("the KV cache holds ", max_sequences_, " x ", max_context_,
            " tokens; lower the context or the number of sequences"));
    sized.allocate();
    try {
      buffers();
    } catch (const std::bad_alloc&) {
      throw OutOfMemoryError(cat("not enough host memory for the CPU runtime: KV cache ",
                                 2 * cache_floats * 4 / (1 << 20), " MiB for ", max_sequences_, " x ",
                                 max_context_, " tokens; lower the context or the number of sequences"));
    }
    ids_.resize(size_t(T));
    positions_.resize(size_t(T));
    rows_.resize(size_t(T));
    out_rows_.resize(size_t(T));
    fill_rope_table(rope_.data(), rope_frequencies(c), max_context_);
    final_norm_ = to_f32(model_->weights.final_norm);
    for (const auto& L : model_->weights.layers) {
      layers_.push_back({to_f32(L.attn_norm), to_f32(L.mlp_norm), to_f32(L.q_norm), to_f32(L.k_norm),
                         to_f32(L.bq), to_f32(L.bk), to_f32(L.bv), to_f32(L.bo), to_f32(L.b_gate),
                         to_f32(L.b_up), to_f32(L.b_down)});
    }
  }

  Device device() const override { return Device::Cpu; }

  std::string device_description() const override {
    return cat("CPU, ", cpu::num_threads(), " threads, fp32 compute, ", dtype_name(model_->weight_dtype()),
               " weights");
  }

  KvCacheStats kv_stats() const override {
    KvCacheStats s = usage_stats();
    const ModelConfig& c = config();
    s.bytes_per_token_layer = 2 * c.kv_dim() * int64_t(sizeof(float));
    s.bytes_per_token = s.bytes_per_token_layer * c.num_layers;
    s.capacity_tokens = int64_t(max_sequences_) * max_context_;
    s.total_bytes = s.bytes_per_token * s.capacity_tokens;
    return s;
  }

 protected:
  void on_fork(int src, int dst) override {
    const int64_t n = lengths_[size_t(src)] * config().kv_dim();
    for (int64_t l = 0; l < config().num_layers; ++l) {
      std::copy_n(k_cache_.data() + cache_offset(src, l), n, k_cache_.data() + cache_offset(dst, l));
      std::copy_n(v_cache_.data() + cache_offset(src, l), n, v_cache_.data() + cache_offset(dst, l));
    }
  }

  void forward_chunk(std::span<const SequenceInput> batch, const int64_t* starts,
                     LogitTarget target) override {
    float* logits = target.data;
    const ModelConfig& c = config();
    const ModelWeights& W = model_->weights;
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    const int64_t D = c.head_dim;
    // Flatten the batch into token rows.
    int64_t T = 0, n_out = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto& e = batch[b];
      for (size_t i = 0; i < e.tokens.size(); ++i, ++T) {
        ids_[size_t(T)] = e.tokens[i];
        positions_[size_t(T)] = int32_t(starts[b] + int64_t(i));
        if (e.all_logits || i + 1 == e.tokens.size()) out_rows_[size_t(n_out++)] = T;
      }
    }
    const cpu::LinearScratch scratch{panel_.data(), int64_t(panel_.size())};
    const auto linear = [&](float* y, const float* x, const TensorView& w, const std::vector<float>& bias,
                            int64_t in, int64_t out) {
      cpu::linear_forward(y, x, w.data, w.dtype, ptr(bias), T, in, out, scratch);
    };
    cpu::embedding_forward(x_.data(), ids_.data(), W.embed.data, W.embed.dtype, T, H);
    const float scale = 1.0f / std::sqrt(float(D));
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const LayerWeights& L = W.layers[size_t(l)];
      const LayerVectors& V = layers_[size_t(l)];
      // Attention block.
      cpu::rmsnorm_forward(h_.data(), x_.data(), V.attn_norm.data(), T, H, float(c.rms_norm_eps));
      linear(q_.data(), h_.data(), L.wq, V.bq, H, Q);
      linear(k_.data(), h_.data(), L.wk, V.bk, H, KV);
      linear(v_.data(), h_.data(), L.wv, V.bv, H, KV);
      if (c.qk_norm) {
        cpu::rmsnorm_forward(q_.data(), q_.data(), V.q_norm.data(), T * c.num_heads, D,
                             float(c.rms_norm_eps));
        cpu::rmsnorm_forward(k_.data(), k_.data(), V.k_norm.data(), T * c.num_kv_heads, D,
                             float(c.rms_norm_eps));
      }
      cpu::rope_forward(q_.data(), positions_.data(), rope_.data(), T, c.num_heads, D, c.rotary_dim(), false);
      cpu::rope_forward(k_.data(), positions_.data(), rope_.data(), T, c.num_kv_heads, D, c.rotary_dim(),
                        false);
      int64_t row = 0;
      for (size_t b = 0; b < batch.size(); ++b) {
        float* kc = k_cache_.data() + cache_offset(batch[b].seq, l);
        float* vc = v_cache_.data() + cache_offset(batch[b].seq, l);
        for (size_t i = 0; i < batch[b].tokens.size(); ++i, ++row) {
          const int64_t pos = positions_[size_t(row)];
          std::copy_n(k_.data() + row * KV, KV, kc + pos * KV);
          std::copy_n(v_.data() + row * KV, KV, vc + pos * KV);
          rows_[size_t(row)] = {kc, vc, int32_t(pos + 1)};
        }
      }
      cpu::attention_forward(att_.data(), q_.data(), rows_.data(), T, c.num_heads, c.num_kv_heads, D, D, KV,
                             KV, scale);
      linear(h_.data(), att_.data(), L.wo, V.bo, Q, H);
      cpu::add_inplace(x_.data(), h_.data(), T * H);
      // MLP block.
      cpu::rmsnorm_forward(h_.data(), x_.data(), V.mlp_norm.data(), T, H, float(c.rms_norm_eps));
      linear(gate_.data(), h_.data(), L.w_gate, V.b_gate, H, I);
      linear(up_.data(), h_.data(), L.w_up, V.b_up, H, I);
      cpu::swiglu_forward(gate_.data(), gate_.data(), up_.data(), T * I);
      linear(h_.data(), gate_.data(), L.w_down, V.b_down, I, H);
      cpu::add_inplace(x_.data(), h_.data(), T * H);
    }
    if (!logits) return;
    // Final norm and LM head on the rows that produce logits only.
    for (int64_t r = 0; r < n_out; ++r)
      cpu::rmsnorm_forward(h_.data() + r * H, x_.data() + out_rows_[size_t(r)] * H, final_norm_.data(), 1, H,
                           float(c.rms_norm_eps));
    cpu::linear_forward(logits, h_.data(), W.lm_head.data, W.lm_head.dtype, nullptr, n_out, H, c.vocab_size,
                        scratch);
  }

 private:
  int64_t cache_offset(int seq, int64_t layer) const {
    return (int64_t(seq) * config().num_layers + layer) * kv_floats_per_layer_;
  }

  int64_t kv_floats_per_layer_ = 0;
  std::vector<float> k_cache_, v_cache_;  // [seq][layer][pos][kv_dim]
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, panel_, rope_, final_norm_;
  std::vector<int32_t> ids_, positions_;
  std::vector<int64_t> out_rows_;
  std::vector<cpu::AttentionRow> rows_;
  std::vector<LayerVectors> layers_;
};

}  // namespace

std::unique_ptr<Runtime> create_cpu_runtime(std::shared_ptr<const Model> model,
                                            const RuntimeOptions& options) {
  if (model->config.is_deepseek()) return create_cpu_mla_runtime(std::move(model), options);
  return std::make_unique<CpuRuntime>(std::move(model), options);
}

}  // namespace r1
