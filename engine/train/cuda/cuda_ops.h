#pragma once
// The CUDA backend of the trainer: bf16 compute weights and activations, fp32 residual stream, master
// weights, gradients and AdamW moments; GEMMs through cuBLAS, the kernels of kernels/cuda. One stream.
#include <memory>
#include <vector>

#include "engine/train/train_memory.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/causal_attention.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/flash_attention.h"
#include "kernels/cuda/heads.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/moe_train.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/swiglu.h"
#include "kernels/cuda/token_loss.h"
#include "kernels/cuda/train_elementwise.h"

namespace r1 {

class CudaOps {
 public:
  using Act = cuda::bf16;
  using bf16 = cuda::bf16;
  static constexpr int64_t kLogitsBudget = int64_t(1) << 30;

  CudaOps();
  ~CudaOps();
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;

  void reserve(const TrainMemoryPlan& plan);
  void* alloc(size_t bytes);
  void upload(void* dst, const void* src, size_t bytes) const;
  void download(void* dst, const void* src, size_t bytes) const;  // waits for the stream
  void copy(void* dst, const void* src, size_t bytes) const;
  void zero(void* dst, size_t bytes) const;
  void sync() const;
  void* stream_handle() const { return stream_; }
  void cast(bf16* dst, const float* src, int64_t n) const { cuda::f32_to_bf16(dst, src, n, stream_); }
  void to_compute(bf16* dst, const float* src, int64_t n) const { cuda::f32_to_bf16(dst, src, n, stream_); }

  void rmsnorm_forward(bf16* y, int64_t ld_y, float* rstd, const float* x, int64_t ld_x, const float* w,
                       int64_t rows, int64_t dim, float eps, float* x_copy = nullptr) {
    cuda::rmsnorm_forward_train(y, ld_y, rstd, x, ld_x, w, rows, dim, eps, stream_, x_copy);
  }
  void rmsnorm_backward(float* dx, float* dw, const bf16* dy, int64_t ld_dy, const float* x, int64_t ld_x,
                        const float* w, const float* rstd, int64_t rows, int64_t dim, bool accumulate_dx,
                        bf16* dx_act = nullptr) {
    cuda::rmsnorm_backward(dx, dw, dy, ld_dy, x, ld_x, w, rstd, rows, dim, accumulate_dx, dx_act, stream_);
  }
  void matmul_act(bf16* y, const bf16* x, const bf16* w, const float* b, int64_t T, int64_t K, int64_t N) {
    cuda::matmul_forward(*blas_, y, cuda::GemmOutput::Bf16, x, w, b, T, K, N, stream_);
  }
  void matmul_f32(float* y, const bf16* x, const bf16* w, const float* b, int64_t T, int64_t K, int64_t N) {
    cuda::matmul_forward(*blas_, y, cuda::GemmOutput::F32, x, w, b, T, K, N, stream_);
  }
  void matmul_add_f32(float* y, const bf16* x, const bf16* w, const float* b, int64_t T, int64_t K,
                      int64_t N) {
    cuda::matmul_forward(*blas_, y, cuda::GemmOutput::F32Accumulate, x, w, b, T, K, N, stream_);
  }
  void matmul_backward(bf16* dx, float* dw, float* db, const bf16* dy, const bf16* x, const bf16* w,
                       int64_t T, int64_t K, int64_t N, bool assign_dw = false) {
    cuda::matmul_backward(*blas_, dx, cuda::GemmOutput::Bf16, dw, db, dy, x, w, T, K, N, stream_, assign_dw);
  }
  // dx += dy · W, in fp32: where several branches' input gradients meet.
  void matmul_backward_add_f32(float* dx, float* dw, float* db, const bf16* dy, const bf16* x, const bf16* w,
                               int64_t T, int64_t K, int64_t N, bool assign_dw = false) {
    cuda::matmul_backward(*blas_, dx, cuda::GemmOutput::F32Accumulate, dw, db, dy, x, w, T, K, N, stream_,
                          assign_dw);
  }
  void heads_forward(bf16* q, bf16* k, bf16* v, float* q_rstd, float* k_rstd, const bf16* qkv,
                     const float* q_norm, const float* k_norm, float eps, const float* rope,
                     const cpu::HeadsShape& s) {
    cuda::heads_forward(q, k, v, q_rstd, k_rstd, qkv, q_norm, k_norm, eps, rope, s, stream_);
  }
  void heads_backward(bf16* dqkv, float* dq_norm, float* dk_norm, const bf16* dq, const bf16* dk,
                      const bf16* dv, const bf16* qkv, const float* q_norm, const float* k_norm,
                      const float* q_rstd, const float* k_rstd, const float* rope, const cpu::HeadsShape& s) {
    cuda::heads_backward(dqkv, dq_norm, dk_norm, dq, dk, dv, qkv, q_norm, k_norm, q_rstd, k_rstd, rope, s,
                         stream_);
  }
  void mla_heads_forward(bf16* q, bf16* k, bf16* v, const bf16* q_in, const bf16* kv_in, const float* k_pe,
                         int64_t ld_pe, const float* rope, const cpu::HeadsShape& s, const cpu::MlaDims& m) {
    cuda::mla_heads_forward(q, k, v, q_in, kv_in, k_pe, ld_pe, rope, s, m, stream_);
  }
  void mla_heads_backward(bf16* dq_in, bf16* dkv_in, float* dk_pe, int64_t ld_pe, const bf16* dq,
                          const bf16* dk, const bf16* dv, const float* rope, const cpu::HeadsShape& s,
                          const cpu::MlaDims& m) {
    cuda::mla_heads_backward(dq_in, dkv_in, dk_pe, ld_pe, dq, dk, dv, rope, s, m, stream_);
  }
  // Whether attention of this shape can run the flash kernels (lse rows saved, no probabilities); it
  // hangs on the head dims only. The trainer's choice shows in which of probs and lse it passes.
  bool flash_attention(const cpu::AttentionShape& s) const { return cuda::flash_attention_supports(s); }
  size_t attention_scratch_bytes(const cpu::AttentionShape& s, bool flash) const {
    return flash ? cuda::flash_attention_scratch_bytes(s) : cuda::causal_attention_scratch_bytes(s);
  }
  void attention_forward(bf16* out, bf16* probs, float* lse, const bf16* q, const bf16* k, const bf16* v,
                         void* scratch, const cpu::AttentionShape& s) {
    if (lse)
      cuda::flash_attention_forward(out, lse, q, k, v, s, stream_);
    else
      cuda::causal_attention_forward(*blas_, out, probs, q, k, v, scratch, s, stream_);
  }
  void attention_backward(bf16* dq, bf16* dk, bf16* dv, void* scratch, const bf16* dout, const bf16* out,
                          const bf16* probs, const float* lse, const bf16* q, const bf16* k, const bf16* v,
                          const cpu::AttentionShape& s) {
    if (lse)
      cuda::flash_attention_backward(dq, dk, dv, scratch, dout, out, lse, q, k, v, s, stream_);
    else
      cuda::causal_attention_backward(*blas_, dq, dk, dv, scratch, dout, out, probs, q, k, v, s, stream_);
  }
  void swiglu_forward(bf16* h, const bf16* gu, int64_t T, int64_t I) {
    cuda::swiglu_forward(h, gu, T, I, stream_);
  }
  void swiglu_backward(bf16* dgu, const bf16* dh, const bf16* gu, int64_t T, int64_t I) {
    cuda::swiglu_backward(dgu, dh, gu, T, I, stream_);
  }
  void embedding_forward(float* x, const int32_t* ids, const bf16* table, int64_t T, int64_t C);
  void embedding_backward(float* dtable, const int32_t* ids, const float* dy, int64_t T, int64_t C) {
    cuda::embedding_backward(dtable, ids, dy, T, C, stream_);
  }
  void token_forward(float* logp, float* entropy, float* lse, const float* logits, const int32_t* targets,
                     int64_t rows, int64_t V) {
    cuda::token_logprob_forward(logp, entropy, logits, targets, rows, V, stream_, lse);
  }
  void token_backward(bf16* dlogits, const float* logits, const int32_t* targets, const float* g,
                      const float* ge, const float* lse, const float* entropy, int64_t rows, int64_t V) {
    cuda::token_logprob_backward(dlogits, logits, targets, g, ge, rows, V, stream_, lse, entropy);
  }
  void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                          const cpu::RouterConfig& c, float*) {
    cuda::moe_router_forward(expert_ids, weights, scores, logits, T, c, stream_);
  }
  void moe_router_backward(bf16* dlogits, const float* dweights, const int32_t* expert_ids,
                           const float* scores, int64_t T, const cpu::RouterConfig& c) {
    cuda::moe_router_backward(dlogits, dweights, expert_ids, scores, T, c, stream_);
  }
  void moe_dispatch_forward(bf16* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row,
                            int32_t* scratch, int64_t scratch_ints, const bf16* x, const int32_t* expert_ids,
                            int64_t T, int64_t top_k, int64_t E, int64_t C) {
    cuda::moe_dispatch_forward(xe, offsets, row_token, slot_row, scratch, scratch_ints, x, expert_ids, T,
                               top_k, E, C, stream_);
  }
  void moe_dispatch_backward(float* dx, const bf16* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                             int64_t C) {
    cuda::moe_dispatch_backward(dx, dxe, slot_row, T, top_k, C, stream_);
  }
  void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                           int64_t T, int64_t top_k, int64_t C) {
    cuda::moe_combine_forward(out, ye, weights, slot_row, T, top_k, C, stream_);
  }
  void moe_combine_backward(bf16* dye, float* dweights, const float* dy, const float* ye,
                            const float* weights, const int32_t* slot_row, int64_t T, int64_t top_k,
                            int64_t C) {
    cuda::moe_combine_backward(dye, dweights, dy, ye, weights, slot_row, T, top_k, C, stream_);
  }
  double sum_squares(const float* x, int64_t n) const;
  // One launch per run of tensors with one decay setting (a whole-block kernel with a device table of
  // units measured no faster in whole steps).
  void set_adamw_segments(const std::vector<cpu::AdamWSegment>& s) { segments_ = s; }
  void adamw(float* w, bf16* w_compute, float* m, float* v, const float* g, const cpu::AdamWStep& s) {
    for (const cpu::AdamWSegment& r : segments_)
      cuda::adamw_update(w + r.offset, w_compute ? w_compute + r.offset : nullptr, m + r.offset, v + r.offset,
                         g + r.offset, r.count, s, r.decay, stream_);
  }

 private:
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Blas> blas_;
  std::vector<cuda::DeviceBuffer> blocks_;
  cuda::DeviceBuffer norm_acc_;  // one double
  std::vector<cpu::AdamWSegment> segments_;
};

}  // namespace r1
