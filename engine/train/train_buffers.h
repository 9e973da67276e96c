#pragma once
// The trainer's activation and scratch buffers, carved from one block. The same carving runs with a null
// base to size the block (train_memory.cpp) and with the real base to place the pointers, so the plan and
// the allocation cannot drift apart. Act is the activation type (fp32 on the CPU, bf16 on CUDA); the
// residual stream, norms' rstd and everything fed to a reduction stay fp32.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/model/config.h"

namespace r1 {

struct TrainDims {
  int64_t B = 0, L = 0, T = 0;  // rows, positions, tokens
  int64_t C = 0, I = 0, V = 0, n_layers = 0;
  int64_t H = 0, KVH = 0;
  int64_t Dk = 0, Dv = 0;  // attention head dims (dense: head_dim both)
  int64_t rot_dim = 0;
  bool mla = false, qk_norm = false, q_lora = false;
  int64_t qkv_dim = 0;                                 // dense fused projection width
  int64_t ql = 0, kvl = 0, dn = 0, dr = 0, a_dim = 0;  // MLA
  int64_t chunk = 0;                                   // LM-head rows per chunk
  bool recompute = false;
  bool flash = false;  // attention keeps one log-sum-exp per query row instead of the probabilities
  // Mixture of experts: layers from first_moe on (n_layers: none) route each token to top_k of E experts of
  // width Ie, next to shared experts of width Is (0: none); G: the router's expert groups.
  int64_t first_moe = 0, E = 0, top_k = 0, Ie = 0, Is = 0, G = 1;

  int64_t q_dim() const { return H * Dk; }
  int64_t kv_dim() const { return KVH * Dk; }
  int64_t v_dim() const { return KVH * Dv; }
  int64_t att_dim() const { return H * Dv; }
  int64_t q_in_dim() const { return mla ? H * (dn + dr) : 0; }
  int64_t kv_in_dim() const { return mla ? H * (dn + Dv) : 0; }
  bool moe_layer(int64_t l) const { return l >= first_moe; }
  int64_t moe_layers() const { return n_layers - first_moe; }
  int64_t routed_rows() const { return T * top_k; }  // R: one per (token, chosen expert)
  int64_t mlp_inter(int64_t l) const { return moe_layer(l) ? Is : I; }
  // The widest dense (or shared-expert) MLP of any layer.
  int64_t widest_mlp() const { return std::max(first_moe > 0 ? I : 0, moe_layers() > 0 ? Is : 0); }
};

TrainDims make_train_dims(const ModelConfig& c, int64_t B, int64_t L, bool recompute, int64_t chunk_rows);

class Carver {
 public:
  explicit Carver(std::byte* base = nullptr) : base_(base) {}
  template <class T>
  T* take(int64_t n) {
    used_ = (used_ + 255) / 256 * 256;
    T* p = base_ ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += size_t(std::max<int64_t>(n, 0)) * sizeof(T);
    return p;
  }
  size_t used() const { return used_; }

 private:
  std::byte* base_;
  size_t used_ = 0;
};

// What one layer's backward needs from its forward.
template <class Act>
struct LayerActs {
  Act* xn1 = nullptr;      // [T, C] attention norm output (shared by the layers unless recomputing)
  float* rstd1 = nullptr;  // [T]
  // dense
  Act* qkv = nullptr;                          // [T, qkv_dim]
  float *q_rstd = nullptr, *k_rstd = nullptr;  // [T, H], [T, KVH]
  // MLA
  float* a_out = nullptr;                 // [T, a_dim]: q_a | c_kv | k_pe, fp32 (norm inputs)
  Act* qa_n = nullptr;                    // [T, ql]
  float* qa_rstd = nullptr;               // [T]
  Act* ckv_n = nullptr;                   // [T, kvl]
  float* ckv_rstd = nullptr;              // [T]
  Act *q_in = nullptr, *kv_in = nullptr;  // [T, q_in_dim], [T, kv_in_dim]
  // attention
  Act *q = nullptr, *k = nullptr, *v = nullptr;  // head-major
  Act* probs = nullptr;                          // [B, H, L, L]
  float* lse = nullptr;                          // [B, H, L] log-sum-exp rows (flash attention)
  Act* att = nullptr;                            // [T, att_dim]
  float* x_mid = nullptr;                        // [T, C] residual after attention
  Act* xn2 = nullptr;                            // [T, C] (shared as xn1)
  float* rstd2 = nullptr;                        // [T]
  Act* gu = nullptr;                             // [T, 2I] (I: the layer's dense or shared-expert width)
  Act* h = nullptr;                              // [T, I]
  // mixture of experts (R = T * top_k routed rows, in per-expert blocks; kernels/cpu/moe_train.h)
  float* router_scores = nullptr;     // [T, E] softmax or sigmoid of the router logits
  int32_t* expert_ids = nullptr;      // [T, top_k]
  float* route_weights = nullptr;     // [T, top_k]
  int32_t* expert_offsets = nullptr;  // [E + 1]
  int32_t* row_token = nullptr;       // [R]
  int32_t* slot_row = nullptr;        // [T * top_k]
  Act* xe = nullptr;                  // [R, C] routed rows of xn2
  Act* gue = nullptr;                 // [R, 2 Ie]
  Act* he = nullptr;                  // [R, Ie]
  float* ye = nullptr;                // [R, C] expert outputs, before the routing weights
};

template <class Act>
struct TrainBuffers {
  std::vector<float*> x;               // n_layers + 1 residual streams [T, C]: layer inputs, final output
  std::vector<LayerActs<Act>> layers;  // one shared set when recomputing
  Act* xf = nullptr;                   // [T, C] final norm output
  float* rstd_f = nullptr;             // [T]
  // gradients of activations (reused by every layer)
  float* dres = nullptr;    // [T, C] residual stream gradient
  Act* dres_act = nullptr;  // [T, C]
  Act* dxn = nullptr;       // [T, C]
  Act* dwide = nullptr;     // [T, max(2I, qkv_dim, q_in_dim)]
  Act* dwide2 = nullptr;    // [T, kv_in_dim] (MLA)
  Act* dmid = nullptr;      // [T, max(I, att_dim)]
  Act *dq = nullptr, *dk = nullptr, *dv = nullptr;
  float* da = nullptr;                      // [T, a_dim] (MLA)
  Act* da_act = nullptr;                    // [T, a_dim]
  Act *dqa_n = nullptr, *dckv_n = nullptr;  // [T, ql], [T, kvl]
  void* attention_scratch = nullptr;
  // mixture of experts
  float* router_logits = nullptr;       // [T, E]
  float* route_scratch = nullptr;       // [2E + G] the CPU router's
  int32_t* dispatch_scratch = nullptr;  // [2R + E] the CUDA dispatch sort's (at most that, for any E)
  int64_t dispatch_scratch_ints = 0;
  float* selection_bias = nullptr;  // [MoE layers, E] DeepSeek-V3 e_score_correction_bias, fixed
  float* dxn_f32 = nullptr;         // [T, C] where the router, experts and shared experts' dx meet
  Act* dye = nullptr;               // [R, C]; also dxe, once every expert's down backward has read it
  Act* dhe = nullptr;               // [R, Ie]
  Act* dgue = nullptr;              // [R, 2 Ie]
  float* droute_weights = nullptr;  // [T, top_k]
  Act* drouter_logits = nullptr;    // [T, E]
  // LM head
  float* logits = nullptr;                                                             // [chunk, V]
  Act* dlogits = nullptr;                                                              // [chunk, V]
  float *logp = nullptr, *entropy = nullptr, *g_logp = nullptr, *g_entropy = nullptr;  // [T]
  float* lse = nullptr;  // [T] each row's log-sum-exp, saved by the forward for the backward
  Act* dxf = nullptr;    // [T, C]
  int32_t *ids = nullptr, *targets = nullptr;  // [T]
  float* rope = nullptr;                       // [L, rot_dim]
};

// inter: the dense (or shared-expert) MLP width; moe: whether the layer routes to experts.
// own_qkv false: the layer's projected q/k/v go to a buffer the caller shares between layers (the sizing
// pass's pointers are all null, so the choice cannot hang on the pointer).
// own_norms false: the same for the two norms' outputs (xn1, xn2), which the backward pass recomputes.
template <class Act>
void carve_layer(Carver& cv, LayerActs<Act>& a, const TrainDims& d, int64_t inter, bool moe,
                 bool own_qkv = true, bool own_norms = true) {
  const int64_t T = d.T;
  if (own_norms) a.xn1 = cv.take<Act>(T * d.C);
  a.rstd1 = cv.take<float>(T);
  if (d.mla) {
    a.a_out = cv.take<float>(T * d.a_dim);
    if (d.q_lora) {
      a.qa_n = cv.take<Act>(T * d.ql);
      a.qa_rstd = cv.take<float>(T);
    }
    a.ckv_n = cv.take<Act>(T * d.kvl);
    a.ckv_rstd = cv.take<float>(T);
    a.q_in = cv.take<Act>(T * d.q_in_dim());
    a.kv_in = cv.take<Act>(T * d.kv_in_dim());
  } else {
    if (own_qkv) a.qkv = cv.take<Act>(T * d.qkv_dim);
    if (d.qk_norm) {
      a.q_rstd = cv.take<float>(T * d.H);
      a.k_rstd = cv.take<float>(T * d.KVH);
    }
  }
  a.q = cv.take<Act>(T * d.q_dim());
  a.k = cv.take<Act>(T * d.kv_dim());
  a.v = cv.take<Act>(T * d.v_dim());
  if (d.flash)
    a.lse = cv.take<float>(d.B * d.H * d.L);
  else
    a.probs = cv.take<Act>(d.B * d.H * d.L * d.L);
  a.att = cv.take<Act>(T * d.att_dim());
  a.x_mid = cv.take<float>(T * d.C);
  if (own_norms) a.xn2 = cv.take<Act>(T * d.C);
  a.rstd2 = cv.take<float>(T);
  a.gu = cv.take<Act>(T * 2 * inter);
  a.h = cv.take<Act>(T * inter);
  if (!moe) return;
  const int64_t R = d.routed_rows();
  a.router_scores = cv.take<float>(T * d.E);
  a.expert_ids = cv.take<int32_t>(T * d.top_k);
  a.route_weights = cv.take<float>(T * d.top_k);
  a.expert_offsets = cv.take<int32_t>(d.E + 1);
  a.row_token = cv.take<int32_t>(R);
  a.slot_row = cv.take<int32_t>(R);
  a.xe = cv.take<Act>(R * d.C);
  a.gue = cv.take<Act>(R * 2 * d.Ie);
  a.he = cv.take<Act>(R * d.Ie);
  a.ye = cv.take<float>(R * d.C);
}

template <class Act>
void carve_buffers(Carver& cv, TrainBuffers<Act>& b, const TrainDims& d, size_t attention_scratch_bytes) {
  const int64_t T = d.T;
  b.x.assign(size_t(d.n_layers + 1), nullptr);
  for (float*& x : b.x) x = cv.take<float>(T * d.C);
  b.layers.assign(size_t(d.recompute ? 1 : d.n_layers), LayerActs<Act>{});
  if (d.recompute) {
    carve_layer(cv, b.layers[0], d, d.widest_mlp(), d.moe_layers() > 0);
  } else {
    // Without q/k norms the backward pass reads only the heads made from the projection, so every layer
    // projects into one buffer.
    const bool share_qkv = !d.mla && !d.qk_norm;
    Act* shared_qkv = share_qkv ? cv.take<Act>(d.T * d.qkv_dim) : nullptr;
    // The norms' outputs are cheap to recompute from the kept residual streams and rstd (backward_layer),
    // so every layer's xn1 and xn2 are one buffer.
    Act* shared_norm = cv.take<Act>(d.T * d.C);
    for (int64_t l = 0; l < d.n_layers; ++l) {
      LayerActs<Act>& a = b.layers[size_t(l)];
      carve_layer(cv, a, d, d.mlp_inter(l), d.moe_layer(l), !share_qkv, false);
      if (share_qkv) a.qkv = shared_qkv;
      a.xn1 = a.xn2 = shared_norm;
    }
  }
  b.xf = cv.take<Act>(T * d.C);
  b.rstd_f = cv.take<float>(T);
  b.dres = cv.take<float>(T * d.C);
  b.dres_act = cv.take<Act>(T * d.C);
  b.dxn = cv.take<Act>(T * d.C);
  b.dwide = cv.take<Act>(T * std::max({2 * d.widest_mlp(), d.qkv_dim, d.q_in_dim()}));
  b.dwide2 = cv.take<Act>(T * d.kv_in_dim());
  b.dmid = cv.take<Act>(T * std::max(d.widest_mlp(), d.att_dim()));
  b.dq = cv.take<Act>(T * d.q_dim());
  b.dk = cv.take<Act>(T * d.kv_dim());
  b.dv = cv.take<Act>(T * d.v_dim());
  if (d.mla) {
    b.da = cv.take<float>(T * d.a_dim);
    b.da_act = cv.take<Act>(T * d.a_dim);
    b.dqa_n = cv.take<Act>(T * d.ql);
    b.dckv_n = cv.take<Act>(T * d.kvl);
  }
  b.attention_scratch = cv.take<std::byte>(int64_t(attention_scratch_bytes));
  if (d.moe_layers() > 0) {
    const int64_t R = d.routed_rows();
    b.router_logits = cv.take<float>(T * d.E);
    b.route_scratch = cv.take<float>(2 * d.E + d.G);
    b.dispatch_scratch_ints = 2 * R + d.E;
    b.dispatch_scratch = cv.take<int32_t>(b.dispatch_scratch_ints);
    b.selection_bias = cv.take<float>(d.moe_layers() * d.E);
    b.dxn_f32 = cv.take<float>(T * d.C);
    b.dye = cv.take<Act>(R * d.C);
    b.dhe = cv.take<Act>(R * d.Ie);
    b.dgue = cv.take<Act>(R * 2 * d.Ie);
    b.droute_weights = cv.take<float>(T * d.top_k);
    b.drouter_logits = cv.take<Act>(T * d.E);
  }
  b.logits = cv.take<float>(d.chunk * d.V);
  b.dlogits = cv.take<Act>(d.chunk * d.V);
  b.logp = cv.take<float>(T);
  b.entropy = cv.take<float>(T);
  b.g_logp = cv.take<float>(T);
  b.g_entropy = cv.take<float>(T);
  b.lse = cv.take<float>(T);
  b.dxf = cv.take<Act>(T * d.C);
  b.ids = cv.take<int32_t>(T);
  b.targets = cv.take<int32_t>(T);
  b.rope = cv.take<float>(d.L * d.rot_dim);
}

}  // namespace r1
