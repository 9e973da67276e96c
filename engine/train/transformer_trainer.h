#pragma once
// The decoder's training forward and backward, written once over a backend's ops (CpuOps, CudaOps): dense
// attention (Llama, Qwen2, Qwen3) or Multi-head Latent Attention in its expanded form (DeepSeek-V2/V3), with
// a SwiGLU MLP or, in DeepSeek's mixture-of-experts layers, routed experts beside shared ones. Forward reads
// like the model; backward mirrors it in reverse with d-prefixed buffers. Included by the one source file of
// each backend.
#include <cmath>
#include <cstring>

#include "engine/core/error.h"
#include "engine/model/deepseek.h"
#include "engine/model/rope.h"
#include "grad_zeroing.h"
#include "kernels/cpu/moe.h"
#include "train_buffers.h"
#include "trainer.h"

namespace r1 {

// Reads a tensor of the model into fp32 (widening F16/BF16).
void widen_tensor(float* dst, const TensorView& t);

template <class Ops>
class TransformerTrainer final : public Trainer {
  using Act = typename Ops::Act;

 public:
  TransformerTrainer(const Model& model, const TrainerOptions& opt);
  ~TransformerTrainer() override = default;

  const ModelConfig& config() const override { return cfg_; }
  const ParamLayout& layout() const override { return layout_; }
  const TrainMemoryPlan& memory_plan() const override { return plan_; }

  double forward_backward(const TrainBatch& batch, TokenObjective& objective, float* logp,
                          float* entropy) override {
    return run(batch, &objective, logp, entropy);
  }
  void score(const TrainBatch& batch, float* logp, float* entropy) override {
    run(batch, nullptr, logp, entropy);
  }
  double optimizer_step(const OptimizerHyper& h, double lr) override;
  // Clears what the next backward accumulates into; the products of zero_plan_ assign instead (stale).
  void zero_grads() override {
    for (const GradRange& r : zero_plan_.cleared()) ops_.zero(grad_ + r.offset, size_t(r.count) * 4);
    dw_stale_ = !zero_plan_.assigned().empty();
  }
  void set_gradient_sync(GradientSync* sync) override {
    sync_ = sync;
    if (sync_) sync_->attach(grad_, gradient_buckets(layout_), ops_.stream_handle());
  }
  int64_t steps_taken() const override { return step_; }
  std::vector<std::vector<int64_t>> expert_token_counts() const override;

  std::vector<float> parameters() const override { return download(master_); }
  const void* device_compute_weights() const override {
    if constexpr (std::is_same_v<Act, float>) {
      return nullptr;
    } else {
      return w_;
    }
  }
  std::vector<float> gradients() const override {
    settle_grads();
    return download(grad_);
  }
  void set_parameters(const std::vector<float>& p) override;
  OptimizerState optimizer_state() const override { return {step_, download(m_), download(v_)}; }
  void set_optimizer_state(const OptimizerState& s) override;

 private:
  std::vector<float> download(const float* p) const {
    std::vector<float> out(static_cast<size_t>(layout_.total));
    ops_.download(out.data(), p, out.size() * 4);
    return out;
  }
  Act* W(int64_t off) const { return off < 0 ? nullptr : w_ + off; }
  float* P(int64_t off) const { return off < 0 ? nullptr : master_ + off; }
  float* G(int64_t off) const { return off < 0 ? nullptr : grad_ + off; }
  // Whether the dW product of the weight at `off` ([n, k]) assigns rather than accumulates.
  bool assign_dw(int64_t off, int64_t n, int64_t k) const {
    return zero_plan_.assigns(off, n * k) && dw_stale_;
  }
  // Zeroes the stale products' gradients when they are read without a backward having written them.
  void settle_grads() const {
    if (!dw_stale_) return;
    for (const GradRange& r : zero_plan_.assigned()) ops_.zero(grad_ + r.offset, size_t(r.count) * 4);
    dw_stale_ = false;
  }
  LayerActs<Act>& acts(int64_t l) { return buf_.layers[dims_.recompute ? 0 : size_t(l)]; }

  double run(const TrainBatch& batch, TokenObjective* objective, float* logp_out, float* entropy_out);
  void forward_layer(int64_t l, const TrainDims& d);
  void backward_layer(int64_t l, const TrainDims& d);
  void routed_experts_forward(int64_t l, const TrainDims& d, float* out);
  void moe_backward(int64_t l, const TrainDims& d);
  cpu::RouterConfig router_config(int64_t l) const;
  double lm_head(const TrainDims& d, TokenObjective* objective);
  cpu::HeadsShape heads_shape(const TrainDims& d) const;
  cpu::AttentionShape attention_shape(const TrainDims& d) const;

  Ops ops_;
  ModelConfig cfg_;
  ParamLayout layout_;
  TrainDims dims_;  // the planned (largest) shape
  TrainMemoryPlan plan_;
  float eps_ = 1e-6f, latent_eps_ = 1e-6f, attn_scale_ = 1.0f;
  float *master_ = nullptr, *grad_ = nullptr, *m_ = nullptr, *v_ = nullptr;
  Act* w_ = nullptr;  // compute copy; the master itself when Act is float
  TrainBuffers<Act> buf_;
  int64_t step_ = 0;
  GradientSync* sync_ = nullptr;
  GradZeroPlan zero_plan_;
  // zero_plan_'s products hold old values, and the next backward assigns them.
  mutable bool dw_stale_ = false;
  std::vector<float> host_logp_, host_entropy_, host_g_, host_ge_;
  std::vector<std::vector<int32_t>> expert_rows_;  // per MoE layer: the last forward's expert_offsets
};

template <class Ops>
TransformerTrainer<Ops>::TransformerTrainer(const Model& model, const TrainerOptions& opt)
    : cfg_(model.config), layout_(make_param_layout(model.config)) {
  constexpr bool kCompute = !std::is_same_v<Act, float>;
  const int64_t T = opt.max_batch * opt.max_seq;
  const int64_t chunk = opt.lm_head_chunk_rows > 0
                            ? opt.lm_head_chunk_rows
                            : lm_head_chunk_rows(T, cfg_.vocab_size, int(sizeof(Act)), Ops::kLogitsBudget);
  dims_ = make_train_dims(cfg_, opt.max_batch, opt.max_seq, opt.recompute, chunk);
  dims_.flash = opt.flash_attention && ops_.flash_attention(attention_shape(dims_));
  zero_plan_ = GradZeroPlan(layout_, dims_);
  std::vector<cpu::AdamWSegment> segments;  // runs of tensors with one decay setting
  for (const ParamTensor& t : layout_.tensors) {
    if (t.numel() == 0) continue;
    if (!segments.empty() && segments.back().decay == t.decay &&
        segments.back().offset + segments.back().count == t.offset)
      segments.back().count += t.numel();
    else
      segments.push_back({t.offset, t.numel(), t.decay});
  }
  ops_.set_adamw_segments(segments);
  if (cfg_.max_position_embeddings > 0 && opt.max_seq > cfg_.max_position_embeddings)
    fail("sequence length ", opt.max_seq, " exceeds the model's max_position_embeddings (",
         cfg_.max_position_embeddings, ")");
  const size_t scratch = ops_.attention_scratch_bytes(attention_shape(dims_), dims_.flash);
  plan_ = plan_train_memory(cfg_, opt.max_batch, opt.max_seq, opt.recompute, chunk, int(sizeof(Act)),
                            kCompute, dims_.flash, int64_t(scratch));
  ops_.reserve(plan_);  // throws OutOfMemoryError with the breakdown when it cannot fit

  const size_t n = size_t(layout_.total);
  master_ = static_cast<float*>(ops_.alloc(n * 4));
  grad_ = static_cast<float*>(ops_.alloc(n * 4));
  m_ = static_cast<float*>(ops_.alloc(n * 4));
  v_ = static_cast<float*>(ops_.alloc(n * 4));
  if constexpr (kCompute)
    w_ = static_cast<Act*>(ops_.alloc(n * sizeof(Act)));
  else
    w_ = master_;
  Carver sizing;
  carve_buffers(sizing, buf_, dims_, scratch);
  Carver placing(static_cast<std::byte*>(ops_.alloc(sizing.used())));
  carve_buffers(placing, buf_, dims_, scratch);

  // Weights: widen every tensor of the model into the master block.
  std::vector<float> host(n);
  for (const ParamTensor& t : layout_.tensors) {
    const TensorView src = model.store->find(t.name);
    if (!src) fail(model.store->origin(t.name), ": missing tensor '", t.name, "' needed for training");
    if (src.shape != t.shape)
      fail(model.store->origin(t.name), ": tensor '", t.name, "' has shape ", shape_str(src.shape),
           ", expected ", shape_str(t.shape));
    widen_tensor(host.data() + t.offset, src);
  }
  set_parameters(host);
  if (dims_.moe_layers() > 0) {
    const int64_t E = dims_.E;
    expert_rows_.assign(size_t(dims_.moe_layers()), std::vector<int32_t>(static_cast<size_t>(E + 1), 0));
    // V3's correction bias steers the choice of experts only; it is read once and never trained.
    if (cfg_.arch == Arch::DeepseekV3) {
      std::vector<float> bias(static_cast<size_t>(dims_.moe_layers() * E));
      for (int64_t l = dims_.first_moe; l < dims_.n_layers; ++l) {
        const std::string name = cat("model.layers.", l, ".mlp.gate.e_score_correction_bias");
        const TensorView src = model.store->find(name);
        if (!src) fail(model.store->origin(name), ": missing tensor '", name, "' needed for routing");
        if (src.shape != Shape{E})
          fail(model.store->origin(name), ": tensor '", name, "' has shape ", shape_str(src.shape),
               ", expected ", shape_str(Shape{E}));
        widen_tensor(bias.data() + (l - dims_.first_moe) * E, src);
      }
      ops_.upload(buf_.selection_bias, bias.data(), bias.size() * 4);
    }
  }

  eps_ = float(cfg_.rms_norm_eps);
  attn_scale_ =
      cfg_.is_deepseek() ? float(mla_softmax_scale(cfg_)) : float(1.0 / std::sqrt(double(cfg_.head_dim)));
  std::vector<float> rope(size_t(dims_.L * dims_.rot_dim));
  fill_rope_table(rope.data(), rope_frequencies(cfg_), dims_.L);
  ops_.upload(buf_.rope, rope.data(), rope.size() * 4);
  host_logp_.resize(size_t(T));
  host_entropy_.resize(size_t(T));
  host_g_.resize(size_t(T));
  host_ge_.resize(size_t(T));
}

template <class Ops>
void TransformerTrainer<Ops>::set_parameters(const std::vector<float>& p) {
  if (int64_t(p.size()) != layout_.total)
    fail("parameter block has ", p.size(), " values, the model needs ", layout_.total);
  ops_.upload(master_, p.data(), p.size() * 4);
  if constexpr (!std::is_same_v<Act, float>) ops_.to_compute(w_, master_, layout_.total);
}

template <class Ops>
void TransformerTrainer<Ops>::set_optimizer_state(const OptimizerState& s) {
  if (int64_t(s.m.size()) != layout_.total || int64_t(s.v.size()) != layout_.total)
    fail("optimizer state has ", s.m.size(), "/", s.v.size(), " values, the model needs ", layout_.total);
  ops_.upload(m_, s.m.data(), s.m.size() * 4);
  ops_.upload(v_, s.v.data(), s.v.size() * 4);
  step_ = s.step;
}

template <class Ops>
cpu::HeadsShape TransformerTrainer<Ops>::heads_shape(const TrainDims& d) const {
  cpu::HeadsShape s;
  s.B = d.B, s.L = d.L, s.H = d.H, s.KVH = d.KVH, s.D = d.Dk, s.rot_dim = d.rot_dim;
  s.interleaved = d.mla ? cfg_.mla.rope_interleave : false;
  return s;
}

template <class Ops>
cpu::AttentionShape TransformerTrainer<Ops>::attention_shape(const TrainDims& d) const {
  cpu::AttentionShape s;
  s.B = d.B, s.L = d.L, s.H = d.H, s.KVH = d.KVH, s.Dk = d.Dk, s.Dv = d.Dv, s.scale = attn_scale_;
  return s;
}

template <class Ops>
void TransformerTrainer<Ops>::forward_layer(int64_t l, const TrainDims& d) {
  const LayerParams& p = layout_.layers[size_t(l)];
  LayerActs<Act>& a = acts(l);
  const int64_t T = d.T, C = d.C, I = p.mlp_inter;
  const float* x = buf_.x[size_t(l)];
  // The norms also start the residual sums: x into x_mid here, x_mid into the layer's output below.
  ops_.rmsnorm_forward(a.xn1, C, a.rstd1, x, C, P(p.attn_norm), T, C, eps_, a.x_mid);
  const cpu::HeadsShape hs = heads_shape(d);
  if (!d.mla) {
    ops_.matmul_act(a.qkv, a.xn1, W(p.wqkv), P(p.bqkv), T, C, d.qkv_dim);
    ops_.heads_forward(a.q, a.k, a.v, a.q_rstd, a.k_rstd, a.qkv, P(p.q_norm), P(p.k_norm), eps_, buf_.rope,
                       hs);
  } else {
    // MLA, expanded: a = [q_a | c_kv | k_pe] from one GEMM; per-head keys and values rebuilt from c_kv.
    ops_.matmul_f32(a.a_out, a.xn1, W(p.w_a), nullptr, T, C, d.a_dim);
    if (d.q_lora) {
      ops_.rmsnorm_forward(a.qa_n, d.ql, a.qa_rstd, a.a_out, d.a_dim, P(p.q_a_norm), T, d.ql, latent_eps_);
      ops_.matmul_act(a.q_in, a.qa_n, W(p.wq_b), nullptr, T, d.ql, d.q_in_dim());
    } else {
      ops_.matmul_act(a.q_in, a.xn1, W(p.wq_b), nullptr, T, C, d.q_in_dim());
    }
    ops_.rmsnorm_forward(a.ckv_n, d.kvl, a.ckv_rstd, a.a_out + d.ql, d.a_dim, P(p.kv_a_norm), T, d.kvl,
                         latent_eps_);
    ops_.matmul_act(a.kv_in, a.ckv_n, W(p.wkv_b), nullptr, T, d.kvl, d.kv_in_dim());
    ops_.mla_heads_forward(a.q, a.k, a.v, a.q_in, a.kv_in, a.a_out + d.ql + d.kvl, d.a_dim, buf_.rope, hs,
                           cpu::MlaDims{d.dn, d.dr, d.Dv});
  }
  ops_.attention_forward(a.att, a.probs, a.lse, a.q, a.k, a.v, buf_.attention_scratch, attention_shape(d));
  ops_.matmul_add_f32(a.x_mid, a.att, W(p.wo), P(p.bo), T, d.att_dim(), C);

  float* out = buf_.x[size_t(l + 1)];
  ops_.rmsnorm_forward(a.xn2, C, a.rstd2, a.x_mid, C, P(p.mlp_norm), T, C, eps_, out);
  if (p.is_moe()) routed_experts_forward(l, d, out);
  if (I > 0) {  // the dense MLP, or the shared experts beside the routed ones
    ops_.matmul_act(a.gu, a.xn2, W(p.w_gate_up), P(p.b_gate_up), T, C, 2 * I);
    ops_.swiglu_forward(a.h, a.gu, T, I);
    ops_.matmul_add_f32(out, a.h, W(p.w_down), P(p.b_down), T, I, C);
  }
}

// out += Σ_j w_j expert_j(xn2) over each token's chosen experts. The experts' row counts come back to the
// host (the one sync of the layer) to size each expert's GEMMs.
template <class Ops>
void TransformerTrainer<Ops>::routed_experts_forward(int64_t l, const TrainDims& d, float* out) {
  const LayerParams& p = layout_.layers[size_t(l)];
  LayerActs<Act>& a = acts(l);
  TrainBuffers<Act>& b = buf_;
  const int64_t T = d.T, C = d.C, E = d.E, K = d.top_k, Ie = d.Ie;
  ops_.matmul_f32(b.router_logits, a.xn2, W(p.router), nullptr, T, C, E);
  ops_.moe_router_forward(a.expert_ids, a.route_weights, a.router_scores, b.router_logits, T,
                          router_config(l), b.route_scratch);
  ops_.moe_dispatch_forward(a.xe, a.expert_offsets, a.row_token, a.slot_row, b.dispatch_scratch,
                            b.dispatch_scratch_ints, a.xn2, a.expert_ids, T, K, E, C);
  std::vector<int32_t>& rows = expert_rows_[size_t(l - d.first_moe)];
  ops_.download(rows.data(), a.expert_offsets, rows.size() * 4);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = rows[size_t(e)], n = rows[size_t(e + 1)] - r0;
    if (n > 0)
      ops_.matmul_act(a.gue + r0 * 2 * Ie, a.xe + r0 * C, W(p.expert_gate_up[size_t(e)]), nullptr, n, C,
                      2 * Ie);
  }
  ops_.swiglu_forward(a.he, a.gue, d.routed_rows(), Ie);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = rows[size_t(e)], n = rows[size_t(e + 1)] - r0;
    if (n > 0) ops_.matmul_f32(a.ye + r0 * C, a.he + r0 * Ie, W(p.expert_down[size_t(e)]), nullptr, n, Ie, C);
  }
  ops_.moe_combine_forward(out, a.ye, a.route_weights, a.slot_row, T, K, C);
}

template <class Ops>
void TransformerTrainer<Ops>::backward_layer(int64_t l, const TrainDims& d) {
  const LayerParams& p = layout_.layers[size_t(l)];
  LayerActs<Act>& a = acts(l);
  TrainBuffers<Act>& b = buf_;
  const int64_t T = d.T, C = d.C, I = p.mlp_inter;
  // b.dres holds dLoss/d(layer output). Without whole-layer recomputation the norms' outputs live in one
  // buffer for all layers (train_buffers.h): this layer's are rebuilt from its residual streams when needed.
  const bool rebuild_norms = !dims_.recompute;
  if (rebuild_norms) ops_.rmsnorm_forward(a.xn2, C, a.rstd2, a.x_mid, C, P(p.mlp_norm), T, C, eps_);
  // b.dres_act already holds it in the activation type (the norm backward that wrote b.dres wrote both).
  if (p.is_moe()) {
    moe_backward(l, d);
  } else {
    ops_.matmul_backward(b.dmid, G(p.w_down), G(p.b_down), b.dres_act, a.h, W(p.w_down), T, I, C,
                         assign_dw(p.w_down, C, I));
    ops_.swiglu_backward(b.dwide, b.dmid, a.gu, T, I);
    ops_.matmul_backward(b.dxn, G(p.w_gate_up), G(p.b_gate_up), b.dwide, a.xn2, W(p.w_gate_up), T, C, 2 * I,
                         assign_dw(p.w_gate_up, 2 * I, C));
  }
  ops_.rmsnorm_backward(b.dres, G(p.mlp_norm), b.dxn, C, a.x_mid, C, P(p.mlp_norm), a.rstd2, T, C, true,
                        b.dres_act);
  if (rebuild_norms)
    ops_.rmsnorm_forward(a.xn1, C, a.rstd1, buf_.x[size_t(l)], C, P(p.attn_norm), T, C, eps_);

  ops_.matmul_backward(b.dmid, G(p.wo), G(p.bo), b.dres_act, a.att, W(p.wo), T, d.att_dim(), C,
                       assign_dw(p.wo, C, d.att_dim()));
  ops_.attention_backward(b.dq, b.dk, b.dv, b.attention_scratch, b.dmid, a.att, a.probs, a.lse, a.q, a.k, a.v,
                          attention_shape(d));
  const cpu::HeadsShape hs = heads_shape(d);
  if (!d.mla) {
    ops_.heads_backward(b.dwide, G(p.q_norm), G(p.k_norm), b.dq, b.dk, b.dv, a.qkv, P(p.q_norm), P(p.k_norm),
                        a.q_rstd, a.k_rstd, buf_.rope, hs);
    ops_.matmul_backward(b.dxn, G(p.wqkv), G(p.bqkv), b.dwide, a.xn1, W(p.wqkv), T, C, d.qkv_dim,
                         assign_dw(p.wqkv, d.qkv_dim, C));
  } else {
    ops_.mla_heads_backward(b.dwide, b.dwide2, b.da + d.ql + d.kvl, d.a_dim, b.dq, b.dk, b.dv, buf_.rope, hs,
                            cpu::MlaDims{d.dn, d.dr, d.Dv});
    ops_.matmul_backward(b.dckv_n, G(p.wkv_b), nullptr, b.dwide2, a.ckv_n, W(p.wkv_b), T, d.kvl,
                         d.kv_in_dim(), assign_dw(p.wkv_b, d.kv_in_dim(), d.kvl));
    ops_.rmsnorm_backward(b.da + d.ql, G(p.kv_a_norm), b.dckv_n, d.kvl, a.a_out + d.ql, d.a_dim,
                          P(p.kv_a_norm), a.ckv_rstd, T, d.kvl, false);
    if (d.q_lora) {
      ops_.matmul_backward(b.dqa_n, G(p.wq_b), nullptr, b.dwide, a.qa_n, W(p.wq_b), T, d.ql, d.q_in_dim(),
                           assign_dw(p.wq_b, d.q_in_dim(), d.ql));
      ops_.rmsnorm_backward(b.da, G(p.q_a_norm), b.dqa_n, d.ql, a.a_out, d.a_dim, P(p.q_a_norm), a.qa_rstd, T,
                            d.ql, false);
    } else {
      // A direct q_proj reads the same normed input: its input gradient goes through the (linear) norm
      // backward separately, into the same residual gradient.
      ops_.matmul_backward(b.dres_act, G(p.wq_b), nullptr, b.dwide, a.xn1, W(p.wq_b), T, C, d.q_in_dim(),
                           assign_dw(p.wq_b, d.q_in_dim(), C));
      ops_.rmsnorm_backward(b.dres, G(p.attn_norm), b.dres_act, C, buf_.x[size_t(l)], C, P(p.attn_norm),
                            a.rstd1, T, C, true);
    }
    ops_.cast(b.da_act, b.da, T * d.a_dim);
    ops_.matmul_backward(b.dxn, G(p.w_a), nullptr, b.da_act, a.xn1, W(p.w_a), T, C, d.a_dim,
                         assign_dw(p.w_a, d.a_dim, C));
  }
  ops_.rmsnorm_backward(b.dres, G(p.attn_norm), b.dxn, C, buf_.x[size_t(l)], C, P(p.attn_norm), a.rstd1, T, C,
                        true, b.dres_act);
}

// Leaves dLoss/d(xn2) in b.dxn: the routed experts', the router's and the shared experts' input gradients,
// summed in fp32. b.dres_act holds dLoss/d(layer output).
template <class Ops>
void TransformerTrainer<Ops>::moe_backward(int64_t l, const TrainDims& d) {
  const LayerParams& p = layout_.layers[size_t(l)];
  LayerActs<Act>& a = acts(l);
  TrainBuffers<Act>& b = buf_;
  const int64_t T = d.T, C = d.C, E = d.E, K = d.top_k, Ie = d.Ie;
  const std::vector<int32_t>& rows = expert_rows_[size_t(l - d.first_moe)];
  ops_.moe_combine_backward(b.dye, b.droute_weights, b.dres, a.ye, a.route_weights, a.slot_row, T, K, C);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = rows[size_t(e)], n = rows[size_t(e + 1)] - r0;
    if (n > 0)
      ops_.matmul_backward(b.dhe + r0 * Ie, G(p.expert_down[size_t(e)]), nullptr, b.dye + r0 * C,
                           a.he + r0 * Ie, W(p.expert_down[size_t(e)]), n, Ie, C);
  }
  ops_.swiglu_backward(b.dgue, b.dhe, a.gue, d.routed_rows(), Ie);
  Act* dxe = b.dye;  // free again: every expert's down backward has read it
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = rows[size_t(e)], n = rows[size_t(e + 1)] - r0;
    if (n > 0)
      ops_.matmul_backward(dxe + r0 * C, G(p.expert_gate_up[size_t(e)]), nullptr, b.dgue + r0 * 2 * Ie,
                           a.xe + r0 * C, W(p.expert_gate_up[size_t(e)]), n, C, 2 * Ie);
  }
  ops_.moe_dispatch_backward(b.dxn_f32, dxe, a.slot_row, T, K, C);
  ops_.moe_router_backward(b.drouter_logits, b.droute_weights, a.expert_ids, a.router_scores, T,
                           router_config(l));
  ops_.matmul_backward_add_f32(b.dxn_f32, G(p.router), nullptr, b.drouter_logits, a.xn2, W(p.router), T, C, E,
                               assign_dw(p.router, E, C));
  if (const int64_t I = p.mlp_inter; I > 0) {
    ops_.matmul_backward(b.dmid, G(p.w_down), G(p.b_down), b.dres_act, a.h, W(p.w_down), T, I, C,
                         assign_dw(p.w_down, C, I));
    ops_.swiglu_backward(b.dwide, b.dmid, a.gu, T, I);
    ops_.matmul_backward_add_f32(b.dxn_f32, G(p.w_gate_up), G(p.b_gate_up), b.dwide, a.xn2, W(p.w_gate_up), T,
                                 C, 2 * I, assign_dw(p.w_gate_up, 2 * I, C));
  }
  ops_.cast(b.dxn, b.dxn_f32, T * C);
}

// The inference runtime's routing rules, with the layer's fixed correction bias.
template <class Ops>
cpu::RouterConfig TransformerTrainer<Ops>::router_config(int64_t l) const {
  return moe_router_config(cfg_.moe,
                           cfg_.arch == Arch::DeepseekV3
                               ? buf_.selection_bias + (l - dims_.first_moe) * cfg_.moe.n_routed_experts
                               : nullptr);
}

template <class Ops>
std::vector<std::vector<int64_t>> TransformerTrainer<Ops>::expert_token_counts() const {
  std::vector<std::vector<int64_t>> out;
  for (const std::vector<int32_t>& rows : expert_rows_) {
    std::vector<int64_t>& counts = out.emplace_back();
    for (size_t e = 0; e + 1 < rows.size(); ++e) counts.push_back(rows[e + 1] - rows[e]);
  }
  return out;
}

template <class Ops>
double TransformerTrainer<Ops>::lm_head(const TrainDims& d, TokenObjective* objective) {
  TrainBuffers<Act>& b = buf_;
  const int64_t T = d.T, C = d.C, V = d.V;
  ops_.rmsnorm_forward(b.xf, C, b.rstd_f, b.x.back(), C, P(layout_.final_norm), T, C, eps_);
  double loss = 0;
  bool head_stale = assign_dw(layout_.lm_head, V, C);  // the first chunk with a loss term assigns
  for (int64_t r0 = 0; r0 < T; r0 += dims_.chunk) {
    const int64_t n = std::min(dims_.chunk, T - r0);
    ops_.matmul_f32(b.logits, b.xf + r0 * C, W(layout_.lm_head), nullptr, n, C, V);
    ops_.token_forward(b.logp + r0, b.entropy + r0, b.lse + r0, b.logits, b.targets + r0, n, V);
    ops_.download(host_logp_.data() + r0, b.logp + r0, size_t(n) * 4);
    ops_.download(host_entropy_.data() + r0, b.entropy + r0, size_t(n) * 4);
    if (!objective) continue;
    float* g = host_g_.data() + r0;
    float* ge = host_ge_.data() + r0;
    std::fill(g, g + n, 0.0f);
    std::fill(ge, ge + n, 0.0f);
    loss += objective->chunk(r0, n, host_logp_.data() + r0, host_entropy_.data() + r0, g, ge);
    bool any = false;
    for (int64_t i = 0; i < n && !any; ++i) any = g[i] != 0.0f || ge[i] != 0.0f;
    if (!any) {  // rows without a loss term (prompt, padding): no gradient to send back
      ops_.zero(b.dxf + r0 * C, size_t(n * C) * sizeof(Act));
      continue;
    }
    ops_.upload(b.g_logp + r0, g, size_t(n) * 4);
    ops_.upload(b.g_entropy + r0, ge, size_t(n) * 4);
    ops_.token_backward(b.dlogits, b.logits, b.targets + r0, b.g_logp + r0, b.g_entropy + r0, b.lse + r0,
                        b.entropy + r0, n, V);
    ops_.matmul_backward(b.dxf + r0 * C, G(layout_.lm_head), nullptr, b.dlogits, b.xf + r0 * C,
                         W(layout_.lm_head), n, C, V, head_stale);
    head_stale = false;
  }
  if (objective && head_stale) ops_.zero(G(layout_.lm_head), size_t(V * C) * 4);
  return loss;
}

template <class Ops>
double TransformerTrainer<Ops>::run(const TrainBatch& batch, TokenObjective* objective, float* logp_out,
                                    float* entropy_out) {
  if (batch.B <= 0 || batch.L <= 0 || batch.B > dims_.B || batch.L > dims_.L)
    fail("training batch ", batch.B, " x ", batch.L, " does not fit the planned ", dims_.B, " x ", dims_.L);
  const int64_t T = batch.tokens();
  if (int64_t(batch.ids.size()) != T || int64_t(batch.targets.size()) != T ||
      int64_t(batch.weights.size()) != T)
    fail("training batch arrays must hold ", T, " values (ids ", batch.ids.size(), ", targets ",
         batch.targets.size(), ", weights ", batch.weights.size(), ")");
  for (int64_t t = 0; t < T; ++t) {
    if (batch.ids[size_t(t)] < 0 || batch.ids[size_t(t)] >= cfg_.vocab_size)
      fail("token id ", batch.ids[size_t(t)], " at batch position ", t, " is outside the vocabulary (",
           cfg_.vocab_size, ")");
    if (batch.targets[size_t(t)] < 0 || batch.targets[size_t(t)] >= cfg_.vocab_size)
      fail("target id ", batch.targets[size_t(t)], " at batch position ", t, " is outside the vocabulary (",
           cfg_.vocab_size, ")");
  }
  TrainDims d = make_train_dims(cfg_, batch.B, batch.L, dims_.recompute, dims_.chunk);
  d.flash = dims_.flash;  // flash support hangs on the head dims, which the batch does not change
  ops_.upload(buf_.ids, batch.ids.data(), size_t(T) * 4);
  ops_.upload(buf_.targets, batch.targets.data(), size_t(T) * 4);
  ops_.embedding_forward(buf_.x[0], buf_.ids, W(layout_.embed), T, d.C);
  for (int64_t l = 0; l < d.n_layers; ++l) forward_layer(l, d);
  const double loss = lm_head(d, objective);
  if (objective) {
    // Buckets in the order of gradient_buckets(): head, layers last to first, embedding.
    const bool reduce = sync_ && sync_->armed();
    size_t bucket = 0;
    const auto ready = [&] {
      if (reduce) sync_->bucket_ready(bucket++);
    };
    ops_.rmsnorm_backward(buf_.dres, G(layout_.final_norm), buf_.dxf, d.C, buf_.x.back(), d.C,
                          P(layout_.final_norm), buf_.rstd_f, T, d.C, false, buf_.dres_act);
    ready();
    for (int64_t l = d.n_layers - 1; l >= 0; --l) {
      if (dims_.recompute) forward_layer(l, d);
      backward_layer(l, d);
      ready();
    }
    ops_.embedding_backward(G(layout_.embed), buf_.ids, buf_.dres, T, d.C);
    ready();
    dw_stale_ = false;
  }
  ops_.sync();
  if (logp_out) std::memcpy(logp_out, host_logp_.data(), size_t(T) * 4);
  if (entropy_out) std::memcpy(entropy_out, host_entropy_.data(), size_t(T) * 4);
  return loss;
}

template <class Ops>
double TransformerTrainer<Ops>::optimizer_step(const OptimizerHyper& h, double lr) {
  settle_grads();
  if (sync_) sync_->finish();
  const double norm = std::sqrt(ops_.sum_squares(grad_, layout_.total));
  if (!std::isfinite(norm)) {
    zero_grads();
    fail("gradient norm is ", norm, " at step ", step_ + 1,
         "; the update was skipped (try a lower learning rate)");
  }
  ++step_;
  cpu::AdamWStep s;
  s.lr = float(lr), s.beta1 = float(h.beta1), s.beta2 = float(h.beta2), s.eps = float(h.eps);
  s.weight_decay = float(h.weight_decay);
  s.t = step_;
  s.grad_scale = h.max_grad_norm > 0 ? float(std::min(1.0, h.max_grad_norm / (norm + 1e-6))) : 1.0f;
  constexpr bool kCompute = !std::is_same_v<Act, float>;
  ops_.adamw(master_, kCompute ? w_ : nullptr, m_, v_, grad_, s);
  zero_grads();
  ops_.sync();
  return norm;
}

}  // namespace r1
