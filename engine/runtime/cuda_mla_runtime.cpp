// CUDA backend for DeepSeek-V2/V3 (arXiv 2405.04434, 2412.19437), the GPU form of cpu_mla_runtime.cpp. The
// paged cache holds per token and layer only the latent [RMSNorm(c_kv) | rope(k_pe)] in bf16. Attention is
// the absorbed form throughout: W_UK folds into the query and W_UV into the output (two strided-batched
// GEMMs over the heads), and the heads attend over the latent rows themselves; through cuBLAS GEMMs for each
// multi-token entry (prefill), through a split-K kernel for decode rows. Routed experts: decode steps and
// short chunks read each (token, expert) slot's weights directly (no host round trip, so the step can be a
// CUDA graph); longer chunks sort tokens by expert and run one GEMM per expert, reading the per-expert row
// counts back once per layer. bf16 weights and activations, fp32 residual stream, router and logits.
#include "cuda_mla_runtime.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "cuda_runtime_base.h"
#include "engine/core/error.h"
#include "engine/train/param_layout.h"
#include "kernels/cpu/linear.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/mla_attention.h"
#include "kernels/cuda/moe_experts.h"
#include "kernels/cuda/moe_train.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/swiglu.h"

namespace r1 {
namespace {

using cuda::bf16;
// transformers builds q_a_layernorm and kv_a_layernorm with the RMSNorm default eps, not rms_norm_eps.
constexpr float kLatentNormEps = 1e-6f;
// Chunks of at most this many rows (and every decode step) take the routed experts slot by slot.
constexpr int64_t kSlotMaxRows = 16;
// Decode batches up to this many rows can take the experts padded (routed_experts()).
constexpr int64_t kPaddedMaxRows = 256;
constexpr size_t kPrefillScratchMax = size_t(768) << 20;

class CudaMlaRuntime final : public CudaRuntimeBase {
 public:
  CudaMlaRuntime(std::shared_ptr<const Model> model, const RuntimeOptions& o)
      : CudaRuntimeBase(std::move(model), o) {
    const ModelConfig& c = config();
    const MlaConfig& a = c.mla;
    const MoeConfig& m = c.moe;
    if (o.mla_path == MlaPath::Expanded)
      fail(
          "the CUDA backend attends over the latent cache (absorbed); the expanded path runs with --device "
          "cpu");
    D_ = c.hidden_size, H_ = c.num_heads, nope_ = a.qk_nope_head_dim, rope_dim_ = a.qk_rope_head_dim;
    qk_ = a.qk_head_dim(), dv_ = a.v_head_dim, lora_ = a.kv_lora_rank, latent_ = a.latent_dim();
    if (latent_ > cuda::kMlaMaxLatent || lora_ > cuda::kMlaMaxLora || latent_ % 2 || lora_ % 2)
      fail(model_->name, ": kv_lora_rank ", lora_, " and qk_rope_head_dim ", rope_dim_,
           " are not supported by the CUDA backend (even, latent at most ", cuda::kMlaMaxLatent, ")");
    if (c.rotary_dim() != rope_dim_) fail(model_->name, ": partial rotary MLA is not supported on CUDA");
    E_ = m.n_routed_experts, K_ = m.num_experts_per_tok, mI_ = m.moe_intermediate_size;
    const bool moe = E_ > 0 && c.num_layers > m.first_k_dense_replace;
    if (moe && !cuda::slot_experts_supported(K_, D_, mI_))
      fail(model_->name, ": hidden ", D_, " or top-k x moe_intermediate_size ", K_ * mI_,
           " is too wide for the CUDA expert kernels");
    const int64_t T = max_batch_tokens_, S = max_sequences_, C = max_context_;
    inter_ = std::max(c.intermediate_size, m.n_shared_experts * mI_);
    q_lora_ = std::max<int64_t>(a.q_lora_rank, 1);
    slot_rows_ = std::min(T, std::max<int64_t>(S, kSlotMaxRows));
    partial_floats_ =
        cuda::mla_decode_partial_floats(std::min<int64_t>(S, T), int32_t(H_), int32_t(lora_), int32_t(C));
    const size_t min_prefill = cuda::mla_prefill_min_scratch_bytes(T, C, int32_t(latent_));
    prefill_bytes_ =
        std::max(min_prefill, std::min(kPrefillScratchMax, min_prefill + size_t(H_ - 1) * size_t(T * C) * 4));
    routed_rows_ = moe ? T * K_ : 0;
    const int64_t decode_rows = std::min(T, S);
    pad_rows_ = moe && takes_padded(decode_rows) ? std::min(decode_rows, kPaddedMaxRows) : 0;
    dispatch_ints_ = moe ? cuda::moe_dispatch_scratch_ints(T, K_, E_) : 0;
    cache_.num_blocks = blocks_.num_blocks();
    cache_.block_size = kBlockSize;
    cache_.latent = int32_t(latent_);
    cache_.layers = int32_t(c.num_layers);
    int64_t acts = 0;
    activation_buffers([&](cuda::DeviceBuffer&, int64_t bytes) { acts += bytes; });
    check_fits(cuda_weight_bytes(*model_), cache_.bytes(), acts);
    allocate_common();
    weights_ = upload_weights(*model_, stream_);
    cache_pool_.allocate(size_t(cache_.bytes()));
    cache_.pool = cache_pool_.as<bf16>();
    activation_buffers(
        [](cuda::DeviceBuffer& b, int64_t bytes) { b.allocate(size_t(std::max<int64_t>(bytes, 1))); });
    if (moe) prepare_routers();
    if (pad_rows_ > 0) R1_CUDA_CHECK(cudaMemsetAsync(pad_xe_.get(), 0, pad_xe_.bytes(), stream_));
    load_.layers = c.num_layers, load_.experts = E_;
    load_.tokens.assign(size_t(c.num_layers * E_), 0);
    reset_expert_load();
    R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  ~CudaMlaRuntime() override { cudaFreeHost(offsets_host_); }

  std::string device_description() const override {
    const auto info = cuda::device_info();
    return cat(info.name, ", bf16 weights (", weights_.bytes >> 20, " MiB), paged MLA latent cache ",
               cache_.num_blocks, " blocks x ", kBlockSize, " tokens (", cache_.bytes() >> 20, " MiB, ",
               latent_, " values/token/layer, absorbed attention)");
  }

  KvCacheStats kv_stats() const override { return paged_kv_stats(latent_ * 2, cache_.bytes()); }

  bool copy_weights_from_device(const ParamLayout& p, const void* block) override;

  const ExpertLoad* expert_load() const override {
    if (routed_rows_ > 0) {
      std::vector<unsigned long long> counts(load_.tokens.size());
      R1_CUDA_CHECK(cudaMemcpyAsync(counts.data(), load_counts_.get(), counts.size() * 8,
                                    cudaMemcpyDeviceToHost, stream_));
      R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
      for (size_t i = 0; i < counts.size(); ++i) load_.tokens[i] = int64_t(counts[i]);
    }
    return &load_;
  }
  void reset_expert_load() override {
    if (routed_rows_ > 0)
      R1_CUDA_CHECK(cudaMemsetAsync(load_counts_.get(), 0, load_counts_.bytes(), stream_));
    std::fill(load_.tokens.begin(), load_.tokens.end(), 0);
  }

 protected:
  void copy_block(int32_t from, int32_t to) override {
    const size_t bytes = size_t(cache_.block_elems()) * 2;
    for (int l = 0; l < cache_.layers; ++l)
      R1_CUDA_CHECK(cudaMemcpyAsync(cache_.block(l, to), cache_.block(l, from), bytes,
                                    cudaMemcpyDeviceToDevice, stream_));
  }

  void run_layers(int64_t T, int32_t max_keys) override;

 private:
  // Every activation buffer with its size in bytes, in one list: summed for the plan, then allocated.
  void activation_buffers(const std::function<void(cuda::DeviceBuffer&, int64_t)>& take) {
    const int64_t T = max_batch_tokens_, R = routed_rows_;
    take(x_, T * D_ * 4);
    take(h_, T * D_ * 2);
    take(q_a_, T * q_lora_ * 4);
    take(q_a_norm_, T * q_lora_ * 2);
    take(q_, T * H_ * qk_ * 2);
    take(kv_a_, T * latent_ * 4);
    take(q_lat_, T * H_ * latent_ * 2);
    take(o_lat_, T * H_ * lora_ * 2);
    take(att_, T * H_ * dv_ * 2);
    take(gu_, T * 2 * inter_ * 2);
    take(mid_, T * inter_ * 2);
    take(partial_, partial_floats_ * 4);
    take(prefill_, int64_t(prefill_bytes_));
    if (R == 0) return;  // no routed experts
    const int64_t L = config().num_layers;
    take(load_counts_, L * E_ * 8);  // the expert load, [layer][expert]
    take(router_logits_, T * E_ * 4);
    take(router_scores_, T * E_ * 4);
    take(expert_ids_, T * K_ * 4);
    take(route_weights_, T * K_ * 4);
    take(slot_act_, slot_rows_ * K_ * mI_ * 2);
    take(xe_, R * D_ * 2);
    take(gue_, R * 2 * mI_ * 2);
    take(he_, R * mI_ * 2);
    take(ye_, R * D_ * 4);
    take(offsets_, (E_ + 1) * 4);
    take(row_token_, R * 4);
    take(slot_row_, R * 4);
    take(dispatch_scratch_, dispatch_ints_ * 4);
    take(selection_bias_, L * E_ * 4);
    take(router_f32_, L * router_stride() * 4);
    const int64_t P = E_ * pad_rows_;
    if (P == 0) return;  // no decode batch takes the experts padded
    take(pad_xe_, P * D_ * 2);
    take(pad_gu_, P * 2 * mI_ * 2);
    take(pad_h_, P * mI_ * 2);
    take(pad_y_, P * D_ * 4);
  }

  // Fills the routers' fp32 copies and the V3 correction biases (zeros where a layer has none).
  void prepare_routers() {
    const ModelConfig& c = config();
    R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&offsets_host_), size_t(E_ + 1) * 4));
    std::vector<float> bias(size_t(c.num_layers * E_), 0.0f);
    has_bias_.assign(size_t(c.num_layers), false);
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const TensorView& b = model_->deepseek_layers[size_t(l)].router_bias;
      if (!b) continue;
      cpu::widen_row(bias.data() + l * E_, b.data, b.dtype, E_);
      has_bias_[size_t(l)] = true;
    }
    R1_CUDA_CHECK(cudaMemcpy(selection_bias_.get(), bias.data(), bias.size() * 4, cudaMemcpyHostToDevice));
    for (int64_t l = 0; l < c.num_layers; ++l) widen_router(l);
  }

  // Layer l's router and post-attention norm as fp32, [E, H] then [H], from their bf16 device copies.
  void widen_router(int64_t l) {
    const CudaMlaLayerWeights& w = weights_.mla_layers[size_t(l)];
    if (!w.router) return;
    float* r = router_f32_.as<float>() + l * router_stride();
    cuda::bf16_to_f32(r, w.router, E_ * D_, stream_);
    cuda::bf16_to_f32(r + E_ * D_, w.mlp_norm, D_, stream_);
  }

  int64_t router_stride() const { return E_ * D_ + D_; }
  void attention(int64_t l, int64_t T, int32_t max_keys);
  void mlp(const bf16* wgu, const bf16* wdown, int64_t inter, int64_t T);
  void routed_experts(int64_t l, int64_t T);
  void padded_experts(const CudaMlaLayerWeights& L, int64_t T);
  // Whether a decode batch of T rows takes the routed experts padded (padded_experts()): at least 8 rows
  // whose slots are at least 3/4 of the experts. DeepSeek-V2-Lite on the H200 (64 experts, 6 a token),
  // padded against slot by slot, tok/s: batch 4 388 / 528, 8 768 / 754, 12 1 138 / 874, 16 1 499 / 933,
  // 32 2 841 / 1 071.
  bool takes_padded(int64_t T) const { return T >= 8 && 4 * T * K_ >= 3 * E_; }

  int64_t D_ = 0, H_ = 0, nope_ = 0, rope_dim_ = 0, qk_ = 0, dv_ = 0, lora_ = 0, latent_ = 0;
  int64_t E_ = 0, K_ = 0, mI_ = 0, slot_rows_ = 0, partial_floats_ = 0, dispatch_ints_ = 0;
  int64_t inter_ = 0, q_lora_ = 0, routed_rows_ = 0, pad_rows_ = 0;
  size_t prefill_bytes_ = 0;
  cuda::MlaCache cache_;
  cuda::DeviceBuffer cache_pool_, q_a_, q_a_norm_, q_, kv_a_, q_lat_, o_lat_, att_, gu_, mid_, partial_,
      prefill_;
  cuda::DeviceBuffer load_counts_;
  mutable ExpertLoad load_;  // the host copy expert_load() returns
  cuda::DeviceBuffer router_logits_, router_scores_, expert_ids_, route_weights_, slot_act_, xe_, gue_, he_,
      ye_, offsets_, row_token_, slot_row_, dispatch_scratch_, selection_bias_, router_f32_;
  cuda::DeviceBuffer pad_xe_, pad_gu_, pad_h_, pad_y_;  // [experts][pad_rows_][...]
  std::vector<bool> has_bias_;
  int32_t* offsets_host_ = nullptr;
};

void CudaMlaRuntime::run_layers(int64_t T, int32_t max_keys) {
  const ModelConfig& c = config();
  const float eps = float(c.rms_norm_eps);
  embed_step(T, D_);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const CudaMlaLayerWeights& L = weights_.mla_layers[size_t(l)];
    cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), L.attn_norm, T, D_, eps, stream_);
    attention(l, T, max_keys);
    cuda::gemm(*blas_, x_.get(), cuda::GemmOutput::F32Accumulate, att_.as<bf16>(), L.o_proj, T, H_ * dv_, D_);
    cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), L.mlp_norm, T, D_, eps, stream_);
    if (L.router) {
      routed_experts(l, T);
      if (L.shared_gu) mlp(L.shared_gu, L.shared_down, c.moe.n_shared_experts * mI_, T);
    } else {
      mlp(L.wgu, L.wdown, c.intermediate_size, T);
    }
  }
}

// h_ (the normed input) -> att_ [T, H * d_v], the heads' outputs before o_proj.
void CudaMlaRuntime::attention(int64_t l, int64_t T, int32_t max_keys) {
  const CudaMlaLayerWeights& L = weights_.mla_layers[size_t(l)];
  const MlaConfig& a = config().mla;
  const StepArrays d = dev();
  if (L.q_proj) {
    cuda::gemm(*blas_, q_.get(), cuda::GemmOutput::Bf16, h_.as<bf16>(), L.q_proj, T, D_, H_ * qk_);
  } else {
    cuda::gemm(*blas_, q_a_.get(), cuda::GemmOutput::F32, h_.as<bf16>(), L.q_a, T, D_, a.q_lora_rank);
    cuda::rmsnorm_forward(q_a_norm_.as<bf16>(), q_a_.as<float>(), L.q_a_norm, T, a.q_lora_rank,
                          kLatentNormEps, stream_);
    cuda::gemm(*blas_, q_.get(), cuda::GemmOutput::Bf16, q_a_norm_.as<bf16>(), L.q_b, T, a.q_lora_rank,
               H_ * qk_);
  }
  cuda::gemm(*blas_, kv_a_.get(), cuda::GemmOutput::F32, h_.as<bf16>(), L.kv_a, T, D_, latent_);
  // The absorbed query's first lora values per head: q_nope W_UK, W_UK being the head's first nope rows of
  // kv_b.
  const int64_t kvb_stride = (nope_ + dv_) * lora_;
  cuda::gemm_strided_batched(*blas_, T, lora_, nope_, 1.0f, {q_.get(), CUDA_R_16BF, H_ * qk_, qk_, false},
                             {L.kv_b, CUDA_R_16BF, lora_, kvb_stride, false}, q_lat_.get(), CUDA_R_16BF,
                             H_ * latent_, latent_, H_);
  cuda::MlaRopeCacheArgs r;
  r.kv_a = kv_a_.as<float>();
  r.norm_w = L.kv_a_norm;
  r.eps = kLatentNormEps;
  r.q = q_.as<bf16>();
  r.q_lat = q_lat_.as<bf16>();
  r.cos_sin = rope_.as<float>();
  r.positions = d.positions;
  r.slot_of_row = d.slots;
  r.T = T;
  r.heads = int32_t(H_);
  r.nope = int32_t(nope_);
  r.lora = int32_t(lora_);
  r.rope = int32_t(rope_dim_);
  r.interleaved = a.rope_interleave;
  r.layer = int32_t(l);
  r.cache = cache_;
  cuda::mla_rope_and_cache(r, stream_);
  const float scale = float(mla_softmax_scale(config()));
  if (decode_rows_) {
    cuda::MlaDecodeArgs at;
    at.q_lat = q_lat_.as<bf16>();
    at.rows = T;
    at.heads = int32_t(H_);
    at.tables = tables_.as<int32_t>();
    at.table_stride = table_stride_;
    at.row_seq = d.row_seq;
    at.n_keys = d.n_keys;
    at.max_keys = max_keys;
    at.scale = scale;
    at.lora = int32_t(lora_);
    at.layer = int32_t(l);
    at.cache = cache_;
    at.out = o_lat_.as<bf16>();
    at.partial = partial_.as<float>();
    cuda::mla_attention_decode(at, stream_);
  } else {
    for (const Entry& e : entries_) {
      cuda::MlaPrefillArgs pa;
      pa.q_lat = q_lat_.as<bf16>() + e.row0 * H_ * latent_;
      pa.T = e.rows;
      pa.heads = int32_t(H_);
      pa.pos0 = e.pos0;
      pa.table = tables_.as<int32_t>() + int64_t(e.seq) * table_stride_;
      pa.scale = scale;
      pa.lora = int32_t(lora_);
      pa.layer = int32_t(l);
      pa.cache = cache_;
      pa.out = o_lat_.as<bf16>() + e.row0 * H_ * lora_;
      pa.scratch = prefill_.get();
      pa.scratch_bytes = prefill_bytes_;
      cuda::mla_attention_prefill(*blas_, pa, stream_);
    }
  }
  // Each head's output: o_lat W_UV^T, W_UV being the head's d_v rows of kv_b after its nope rows.
  cuda::gemm_strided_batched(*blas_, T, dv_, lora_, 1.0f,
                             {o_lat_.get(), CUDA_R_16BF, H_ * lora_, lora_, false},
                             {L.kv_b + nope_ * lora_, CUDA_R_16BF, lora_, kvb_stride, true}, att_.get(),
                             CUDA_R_16BF, H_ * dv_, dv_, H_);
}

// x_ += down(silu(gate h) * up h) over the T rows of h_.
void CudaMlaRuntime::mlp(const bf16* wgu, const bf16* wdown, int64_t inter, int64_t T) {
  cuda::gemm(*blas_, gu_.get(), cuda::GemmOutput::Bf16, h_.as<bf16>(), wgu, T, D_, 2 * inter);
  cuda::swiglu_forward(mid_.as<bf16>(), gu_.as<bf16>(), T, inter, stream_);
  cuda::gemm(*blas_, x_.get(), cuda::GemmOutput::F32Accumulate, mid_.as<bf16>(), wdown, T, inter, D_);
}

// The routed experts of a decode batch with about as many slots as experts or more: the slots gathered into
// each expert's block of pad_rows_ rows, then per projection one strided-batched GEMM over the experts (each
// expert's weights read once, where the slot kernels read them once per slot), the activation over every
// block, and the slots' outputs added to the residual with their weights in slot order. Graph-safe: no
// size comes back to the host. DeepSeek-V2-Lite decode at batch 64 on the H200: see docs/PERF.md.
void CudaMlaRuntime::padded_experts(const CudaMlaLayerWeights& L, int64_t T) {
  const int64_t C = pad_rows_;
  cuda::moe_dispatch_padded(pad_xe_.as<bf16>(), slot_row_.as<int32_t>(), h_.as<bf16>(),
                            expert_ids_.as<int32_t>(), T, K_, E_, D_, C, stream_);
  cuda::gemm_strided_batched(*blas_, T, 2 * mI_, D_, 1.0f, {pad_xe_.get(), CUDA_R_16BF, D_, C * D_, false},
                             {L.experts_gu, CUDA_R_16BF, D_, 2 * mI_ * D_, true}, pad_gu_.get(), CUDA_R_16BF,
                             2 * mI_, C * 2 * mI_, E_);
  cuda::swiglu_forward(pad_h_.as<bf16>(), pad_gu_.as<bf16>(), E_ * C, mI_, stream_);
  cuda::gemm_strided_batched(*blas_, T, D_, mI_, 1.0f, {pad_h_.get(), CUDA_R_16BF, mI_, C * mI_, false},
                             {L.experts_down, CUDA_R_16BF, mI_, D_ * mI_, true}, pad_y_.get(), CUDA_R_32F, D_,
                             C * D_, E_);
  cuda::moe_combine_forward(x_.as<float>(), pad_y_.as<float>(), route_weights_.as<float>(),
                            slot_row_.as<int32_t>(), T, K_, D_, stream_);
}

// x_ += Σ_j w_j expert_j(h) over each token's chosen experts.
void CudaMlaRuntime::routed_experts(int64_t l, int64_t T) {
  const CudaMlaLayerWeights& L = weights_.mla_layers[size_t(l)];
  const float* router = router_f32_.as<float>() + l * router_stride();
  cuda::router_logits_f32(router_logits_.as<float>(), x_.as<float>(), router + E_ * D_,
                          float(config().rms_norm_eps), router, T, D_, E_, stream_);
  const float* bias = has_bias_[size_t(l)] ? selection_bias_.as<float>() + l * E_ : nullptr;
  const cpu::RouterConfig rc = moe_router_config(config().moe, bias);
  cuda::moe_router_forward(expert_ids_.as<int32_t>(), route_weights_.as<float>(), router_scores_.as<float>(),
                           router_logits_.as<float>(), T, rc, stream_);
  cuda::count_experts(load_counts_.as<unsigned long long>() + l * E_, expert_ids_.as<int32_t>(), T * K_,
                      stream_);
  if (decode_rows_ && T <= pad_rows_ && takes_padded(T)) return padded_experts(L, T);
  if (decode_rows_ || T <= kSlotMaxRows) {
    cuda::SlotExpertArgs s;
    s.x = h_.as<bf16>();
    s.expert_ids = expert_ids_.as<int32_t>();
    s.weights = route_weights_.as<float>();
    s.T = T;
    s.top_k = K_;
    s.hidden = D_;
    s.inter = mI_;
    s.w_gu = L.experts_gu;
    s.w_down = L.experts_down;
    s.act = slot_act_.as<bf16>();
    s.out = x_.as<float>();
    cuda::slot_experts_forward(s, stream_);
    return;
  }
  cuda::moe_dispatch_forward(xe_.as<bf16>(), offsets_.as<int32_t>(), row_token_.as<int32_t>(),
                             slot_row_.as<int32_t>(), dispatch_scratch_.as<int32_t>(), dispatch_ints_,
                             h_.as<bf16>(), expert_ids_.as<int32_t>(), T, K_, E_, D_, stream_);
  // The layer's one host round trip: each expert's row count sizes its GEMMs.
  R1_CUDA_CHECK(
      cudaMemcpyAsync(offsets_host_, offsets_.get(), size_t(E_ + 1) * 4, cudaMemcpyDeviceToHost, stream_));
  R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (int64_t e = 0; e < E_; ++e) {
    const int64_t r0 = offsets_host_[e], n = offsets_host_[e + 1] - r0;
    if (n == 0) continue;
    cuda::gemm(*blas_, gue_.as<bf16>() + r0 * 2 * mI_, cuda::GemmOutput::Bf16, xe_.as<bf16>() + r0 * D_,
               L.experts_gu + e * 2 * mI_ * D_, n, D_, 2 * mI_);
    cuda::swiglu_forward(he_.as<bf16>() + r0 * mI_, gue_.as<bf16>() + r0 * 2 * mI_, n, mI_, stream_);
    cuda::gemm(*blas_, ye_.as<float>() + r0 * D_, cuda::GemmOutput::F32, he_.as<bf16>() + r0 * mI_,
               L.experts_down + e * D_ * mI_, n, mI_, D_);
  }
  cuda::moe_combine_forward(x_.as<float>(), ye_.as<float>(), route_weights_.as<float>(),
                            slot_row_.as<int32_t>(), T, K_, D_, stream_);
}

bool CudaMlaRuntime::copy_weights_from_device(const ParamLayout& p, const void* block) {
  const ModelConfig& c = config();
  if (p.layers.size() != weights_.mla_layers.size())
    fail("copy_weights_from_device: ", p.layers.size(), " layers for a model of ",
         weights_.mla_layers.size());
  const int64_t V = c.vocab_size, ql = c.mla.q_lora_rank, I = c.intermediate_size;
  const int64_t Is = c.moe.n_shared_experts * mI_;
  copy_weights(block, [&](const WeightCopy& copy) {
    copy(weights_.embed, p.embed, V * D_, "embedding");
    copy(weights_.final_norm, p.final_norm, D_, "final norm");
    if (weights_.lm_head != weights_.embed) copy(weights_.lm_head, p.lm_head, V * D_, "LM head");
    for (size_t l = 0; l < weights_.mla_layers.size(); ++l) {
      const CudaMlaLayerWeights& w = weights_.mla_layers[l];
      const LayerParams& t = p.layers[l];
      copy(w.attn_norm, t.attn_norm, D_, "input norm");
      // w_a is [q_a; kv_a], or kv_a alone beside a direct q_proj (which then sits at wq_b).
      copy(w.q_a, t.w_a, ql * D_, "q_a projection");
      copy(w.kv_a, t.w_a < 0 ? -1 : t.w_a + (w.q_a ? ql * D_ : 0), latent_ * D_, "kv_a projection");
      copy(w.q_a_norm, t.q_a_norm, ql, "q_a norm");
      copy(w.q_b, t.wq_b, H_ * qk_ * ql, "q_b projection");
      copy(w.q_proj, t.wq_b, H_ * qk_ * D_, "q projection");
      copy(w.kv_a_norm, t.kv_a_norm, lora_, "kv_a norm");
      copy(w.kv_b, t.wkv_b, H_ * (nope_ + dv_) * lora_, "kv_b projection");
      copy(w.o_proj, t.wo, D_ * H_ * dv_, "o projection");
      copy(w.mlp_norm, t.mlp_norm, D_, "post-attention norm");
      copy(w.wgu, t.w_gate_up, 2 * I * D_, "gate/up projection");
      copy(w.wdown, t.w_down, D_ * I, "down projection");
      copy(w.shared_gu, t.w_gate_up, 2 * Is * D_, "shared experts' gate/up");
      copy(w.shared_down, t.w_down, D_ * Is, "shared experts' down");
      copy(w.router, t.router, E_ * D_, "router");
      widen_router(int64_t(l));
      for (size_t e = 0; e < t.expert_gate_up.size() && w.experts_gu; ++e) {
        copy(w.experts_gu + int64_t(e) * 2 * mI_ * D_, t.expert_gate_up[e], 2 * mI_ * D_, "expert gate/up");
        copy(w.experts_down + int64_t(e) * D_ * mI_, t.expert_down[e], D_ * mI_, "expert down");
      }
    }
  });
  return true;
}

}  // namespace

std::unique_ptr<Runtime> create_cuda_mla_runtime(std::shared_ptr<const Model> model,
                                                 const RuntimeOptions& options) {
  return std::make_unique<CudaMlaRuntime>(std::move(model), options);
}

}  // namespace r1
