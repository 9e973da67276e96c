#pragma once
// The CPU backend of the trainer: fp32 activations on the master weights, the kernels of kernels/cpu.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/causal_attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/heads.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/moe_train.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/token_loss.h"
#include "train_memory.h"

namespace r1 {

class CpuOps {
 public:
  using Act = float;
  static constexpr int64_t kLogitsBudget = int64_t(256) << 20;

  void reserve(const TrainMemoryPlan& plan);
  void* alloc(size_t bytes);
  void upload(void* dst, const void* src, size_t bytes) const { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) const { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) const { std::memcpy(dst, src, bytes); }
  void zero(void* dst, size_t bytes) const { std::memset(dst, 0, bytes); }
  void sync() const {}
  void* stream_handle() const { return nullptr; }
  void cast(float* dst, const float* src, int64_t n) const { copy(dst, src, size_t(n) * 4); }

  void rmsnorm_forward(float* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                       int64_t rows, int64_t dim, float eps, float* x_copy = nullptr) {
    cpu::rmsnorm_forward_train(y, ld_y, rstd, x, ld_x, w, rows, dim, eps);
    if (x_copy)
      for (int64_t r = 0; r < rows; ++r) std::copy_n(x + r * ld_x, dim, x_copy + r * ld_x);
  }
  void rmsnorm_backward(float* dx, float* dw, const float* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                        const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx,
                        float* dx_act = nullptr) {
    cpu::rmsnorm_backward(dx, dw, dy, ld_dy, x, ld_x, w, rstd, rows, dim, accumulate_dx);
    if (dx_act)  // the activation-typed copy (here the same type)
      for (int64_t r = 0; r < rows; ++r) std::copy_n(dx + r * ld_x, dim, dx_act + r * ld_x);
  }
  void matmul_act(float* y, const float* x, const float* w, const float* b, int64_t T, int64_t K, int64_t N) {
    cpu::matmul_forward(y, x, w, b, T, K, N);
  }
  void matmul_f32(float* y, const float* x, const float* w, const float* b, int64_t T, int64_t K, int64_t N) {
    cpu::matmul_forward(y, x, w, b, T, K, N);
  }
  void matmul_add_f32(float* y, const float* x, const float* w, const float* b, int64_t T, int64_t K,
                      int64_t N) {
    cpu::matmul_forward(y, x, w, b, T, K, N, true);
  }
  void matmul_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                       int64_t T, int64_t K, int64_t N, bool assign_dw = false) {
    cpu::matmul_backward(dx, dw, db, dy, x, w, T, K, N, false, assign_dw);
  }
  // dx += dy · W, in fp32: where several branches' input gradients meet.
  void matmul_backward_add_f32(float* dx, float* dw, float* db, const float* dy, const float* x,
                               const float* w, int64_t T, int64_t K, int64_t N, bool assign_dw = false) {
    cpu::matmul_backward(dx, dw, db, dy, x, w, T, K, N, true, assign_dw);
  }
  void heads_forward(float* q, float* k, float* v, float* q_rstd, float* k_rstd, const float* qkv,
                     const float* q_norm, const float* k_norm, float eps, const float* rope,
                     const cpu::HeadsShape& s) {
    cpu::heads_forward(q, k, v, q_rstd, k_rstd, qkv, q_norm, k_norm, eps, rope, s);
  }
  void heads_backward(float* dqkv, float* dq_norm, float* dk_norm, const float* dq, const float* dk,
                      const float* dv, const float* qkv, const float* q_norm, const float* k_norm,
                      const float* q_rstd, const float* k_rstd, const float* rope, const cpu::HeadsShape& s) {
    cpu::heads_backward(dqkv, dq_norm, dk_norm, dq, dk, dv, qkv, q_norm, k_norm, q_rstd, k_rstd, rope, s);
  }
  void mla_heads_forward(float* q, float* k, float* v, const float* q_in, const float* kv_in,
                         const float* k_pe, int64_t ld_pe, const float* rope, const cpu::HeadsShape& s,
                         const cpu::MlaDims& m) {
    cpu::mla_heads_forward(q, k, v, q_in, kv_in, k_pe, ld_pe, rope, s, m);
  }
  void mla_heads_backward(float* dq_in, float* dkv_in, float* dk_pe, int64_t ld_pe, const float* dq,
                          const float* dk, const float* dv, const float* rope, const cpu::HeadsShape& s,
                          const cpu::MlaDims& m) {
    cpu::mla_heads_backward(dq_in, dkv_in, dk_pe, ld_pe, dq, dk, dv, rope, s, m);
  }
  // The CPU keeps the probabilities: no log-sum-exp path.
  bool flash_attention(const cpu::AttentionShape&) const { return false; }
  size_t attention_scratch_bytes(const cpu::AttentionShape& s, bool /*flash: never*/) const {
    return size_t(s.B * s.H * s.L * s.L) * sizeof(float);
  }
  void attention_forward(float* out, float* probs, float*, const float* q, const float* k, const float* v,
                         void*, const cpu::AttentionShape& s) {
    cpu::causal_attention_forward(out, probs, q, k, v, s);
  }
  void attention_backward(float* dq, float* dk, float* dv, void* scratch, const float* dout, const float* out,
                          const float* probs, const float*, const float* q, const float* k, const float* v,
                          const cpu::AttentionShape& s) {
    cpu::causal_attention_backward(dq, dk, dv, static_cast<float*>(scratch), dout, out, probs, q, k, v, s);
  }
  void swiglu_forward(float* h, const float* gu, int64_t T, int64_t I) {
    cpu::swiglu_forward_fused(h, gu, T, I);
  }
  void swiglu_backward(float* dgu, const float* dh, const float* gu, int64_t T, int64_t I) {
    cpu::swiglu_backward_fused(dgu, dh, gu, T, I);
  }
  void embedding_forward(float* x, const int32_t* ids, const float* table, int64_t T, int64_t C) {
    cpu::embedding_forward(x, ids, table, DType::F32, T, C);
  }
  void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t C) {
    cpu::embedding_backward(dtable, ids, dy, T, C);
  }
  // The CPU kernels recompute each row's statistics in the backward, so the saved lse is not used.
  void token_forward(float* logp, float* entropy, float* /*lse*/, const float* logits, const int32_t* targets,
                     int64_t rows, int64_t V) {
    cpu::token_logprob_forward(logp, entropy, logits, targets, rows, V);
  }
  void token_backward(float* dlogits, const float* logits, const int32_t* targets, const float* g,
                      const float* ge, const float* /*lse*/, const float* /*entropy*/, int64_t rows,
                      int64_t V) {
    cpu::token_logprob_backward(dlogits, logits, targets, g, ge, rows, V);
  }
  void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                          const cpu::RouterConfig& c, float* scratch) {
    cpu::moe_router_forward(expert_ids, weights, scores, logits, T, c, scratch);
  }
  void moe_router_backward(float* dlogits, const float* dweights, const int32_t* expert_ids,
                           const float* scores, int64_t T, const cpu::RouterConfig& c) {
    cpu::moe_router_backward(dlogits, dweights, expert_ids, scores, T, c);
  }
  void moe_dispatch_forward(float* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row, int32_t*,
                            int64_t, const float* x, const int32_t* expert_ids, int64_t T, int64_t top_k,
                            int64_t E, int64_t C) {
    cpu::moe_dispatch_forward(xe, offsets, row_token, slot_row, x, expert_ids, T, top_k, E, C);
  }
  void moe_dispatch_backward(float* dx, const float* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                             int64_t C) {
    cpu::moe_dispatch_backward(dx, dxe, slot_row, T, top_k, C);
  }
  void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                           int64_t T, int64_t top_k, int64_t C) {
    cpu::moe_combine_forward(out, ye, weights, slot_row, T, top_k, C);
  }
  void moe_combine_backward(float* dye, float* dweights, const float* dy, const float* ye,
                            const float* weights, const int32_t* slot_row, int64_t T, int64_t top_k,
                            int64_t C) {
    cpu::moe_combine_backward(dye, dweights, dy, ye, weights, slot_row, T, top_k, C);
  }
  double sum_squares(const float* x, int64_t n) const { return cpu::sum_squares(x, n); }
  void set_adamw_segments(const std::vector<cpu::AdamWSegment>& s) { segments_ = s; }
  void adamw(float* w, float*, float* m, float* v, const float* g, const cpu::AdamWStep& s) {
    for (const cpu::AdamWSegment& r : segments_)
      cpu::adamw_update(w + r.offset, m + r.offset, v + r.offset, g + r.offset, r.count, s, r.decay);
  }

 private:
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::vector<cpu::AdamWSegment> segments_;
};

}  // namespace r1
