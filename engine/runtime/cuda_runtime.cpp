// CUDA backend for the Llama-family decoder: bf16 weights and activations, fp32 residual stream,
// accumulation and logits; a paged KV cache; decode steps of up to kGemvMaxBatch sequences run as
// matrix-vector kernels with the norm, activation and residual add fused in (replayed from a CUDA graph by
// the base class); larger batches and prefill use cuBLAS.
#include <algorithm>
#include <cmath>

#include "cuda_mla_runtime.h"
#include "cuda_runtime_base.h"
#include "cuda_runtime_factory.h"
#include "engine/core/error.h"
#include "engine/train/param_layout.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_decode.h"
#include "kernels/cuda/attention_prefill_gemm.h"
#include "kernels/cuda/bias_add.h"
#include "kernels/cuda/qkv_rope.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/swiglu.h"

namespace r1 {
namespace {

using cuda::bf16;
// Prefill chunks of one sequence with at least this many rows attend through cuBLAS GEMMs, when their
// scratch (one KV group's fp32 scores) stays within kPrefillGemmScratchMax; the flash kernel serves the rest.
constexpr int64_t kPrefillGemmMinRows = 128;
constexpr size_t kPrefillGemmScratchMax = size_t(768) << 20;

class CudaRuntime final : public CudaRuntimeBase {
 public:
  CudaRuntime(std::shared_ptr<const Model> model, const RuntimeOptions& o)
      : CudaRuntimeBase(std::move(model), o) {
    const ModelConfig& c = config();
    const int64_t D = c.head_dim;
    if (D > 256 || D % 8 != 0 || 32 % (D / 8) != 0 || c.rotary_dim() > D)
      fail(c.architecture, ": head_dim ", D,
           " is not supported by the CUDA backend (8, 16, 32, 64, 128 or 256)");
    const int64_t Q = c.q_dim(), KV = c.kv_dim(), H = c.hidden_size, I = c.intermediate_size;
    const int64_t Tm = max_batch_tokens_;
    fused_decode_ = cuda::attention_decode_supports(int32_t(c.num_heads), int32_t(c.num_kv_heads), int32_t(D),
                                                    int32_t(max_context_));
    const int64_t partial =
        std::max(cuda::attention_partial_floats(Tm, int32_t(c.num_heads), int32_t(D), int32_t(max_context_)),
                 fused_decode_ ? cuda::attention_decode_partial_floats(Tm, int32_t(c.num_heads), int32_t(D),
                                                                       int32_t(max_context_))
                               : 0);
    const int64_t counters = cuda::attention_decode_counters(Tm, int32_t(c.num_heads));
    const int64_t acts = Tm * (H * 4 + std::max(H, I) * 2 + (Q + 2 * KV) * 2 + 2 * Q * 2 + 2 * I * 2) +
                         partial * 4 + counters * 4 + int64_t(prefill_gemm_bytes());
    check_fits(cuda_weight_bytes(*model_), planned_blocks() * kBlockSize * c.num_layers * 2 * KV * 2, acts);
    allocate_common();
    weights_ = upload_weights(*model_, stream_);
    kv_.num_blocks = blocks_.num_blocks();
    kv_.block_size = kBlockSize;
    kv_.kv_heads = int32_t(c.num_kv_heads);
    kv_.head_dim = int32_t(c.head_dim);
    kv_.layers = int32_t(c.num_layers);
    kv_pool_.allocate(size_t(kv_.bytes()));
    kv_.pool = kv_pool_.as<bf16>();
    x_.allocate(size_t(Tm * H) * 4);
    h_.allocate(size_t(Tm * std::max(H, I)) * 2);
    qkv_.allocate(size_t(Tm * (Q + 2 * KV)) * 2);
    q_.allocate(size_t(Tm * Q) * 2);
    att_.allocate(size_t(Tm * Q) * 2);
    gu_.allocate(size_t(Tm * 2 * I) * 2);
    partial_.allocate(size_t(std::max<int64_t>(partial, 1)) * 4);
    counters_.allocate(size_t(counters) * 4);
    R1_CUDA_CHECK(cudaMemsetAsync(counters_.get(), 0, counters_.bytes(), stream_));
    if (const size_t bytes = prefill_gemm_bytes()) prefill_scratch_.allocate(bytes);
    R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  std::string device_description() const override {
    const auto info = cuda::device_info();
    return cat(info.name, ", bf16 weights (", weights_.bytes >> 20, " MiB), paged KV cache ", kv_.num_blocks,
               " blocks x ", kBlockSize, " tokens (", kv_.bytes() >> 20, " MiB)");
  }

  KvCacheStats kv_stats() const override { return paged_kv_stats(2 * config().kv_dim() * 2, kv_.bytes()); }

  bool copy_weights_from_device(const ParamLayout& p, const void* block) override {
    const ModelConfig& c = config();
    if (p.layers.size() != weights_.layers.size())
      fail("copy_weights_from_device: ", p.layers.size(), " layers for a model of ", weights_.layers.size());
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    const int64_t D = c.head_dim, V = c.vocab_size;
    copy_weights(block, [&](const WeightCopy& copy) {
      copy(weights_.embed, p.embed, V * H, "embedding");
      copy(weights_.final_norm, p.final_norm, H, "final norm");
      if (weights_.lm_head != weights_.embed) copy(weights_.lm_head, p.lm_head, V * H, "LM head");
      for (size_t l = 0; l < weights_.layers.size(); ++l) {
        const CudaLayerWeights& w = weights_.layers[l];
        const LayerParams& t = p.layers[l];
        copy(w.attn_norm, t.attn_norm, H, "input norm");
        copy(w.wqkv, t.wqkv, (Q + 2 * KV) * H, "q/k/v projection");
        copy(w.bqkv, t.bqkv, Q + 2 * KV, "q/k/v bias");
        copy(w.q_norm, t.q_norm, D, "q norm");
        copy(w.k_norm, t.k_norm, D, "k norm");
        copy(w.wo, t.wo, H * Q, "o projection");
        copy(w.bo, t.bo, H, "o bias");
        copy(w.mlp_norm, t.mlp_norm, H, "post-attention norm");
        copy(w.wgu, t.w_gate_up, 2 * I * H, "gate/up projection");
        copy(w.bgu, t.b_gate_up, 2 * I, "gate/up bias");
        copy(w.wdown, t.w_down, H * I, "down projection");
        copy(w.bdown, t.b_down, H, "down bias");
      }
    });
    return true;
  }

 protected:
  // The GEMM prefill path's scratch, or 0 when it would be too large (or the chunks are too short to use it).
  size_t prefill_gemm_bytes() const {
    const ModelConfig& c = config();
    if (max_batch_tokens_ < kPrefillGemmMinRows) return 0;
    const size_t bytes = cuda::prefill_gemm_scratch_bytes(
        max_batch_tokens_, max_context_, int32_t(c.num_heads), int32_t(c.num_kv_heads), int32_t(c.head_dim));
    return bytes <= kPrefillGemmScratchMax ? bytes : 0;
  }

  void copy_block(int32_t from, int32_t to) override {
    const size_t bytes = size_t(kv_.block_elems()) * 2;
    for (int l = 0; l < kv_.layers; ++l) {
      R1_CUDA_CHECK(cudaMemcpyAsync(kv_.k_block(l, to), kv_.k_block(l, from), bytes, cudaMemcpyDeviceToDevice,
                                    stream_));
      R1_CUDA_CHECK(cudaMemcpyAsync(kv_.v_block(l, to), kv_.v_block(l, from), bytes, cudaMemcpyDeviceToDevice,
                                    stream_));
    }
  }

  void run_layers(int64_t T, int32_t max_keys) override {
    const ModelConfig& c = config();
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    const float eps = float(c.rms_norm_eps);
    embed_step(T, H);
    // The GEMV path when the kernel takes every input width at this row count (its shared-memory bound
    // included), else cuBLAS.
    const bool small = cuda::gemv_supports(T, H) && cuda::gemv_supports(T, I) && cuda::gemv_supports(T, Q);
    // One sequence's chunk of kPrefillGemmMinRows rows or more attends through GEMMs.
    const bool gemm_prefill = entries_.size() == 1 && T >= kPrefillGemmMinRows && prefill_scratch_.get();
    for (int l = 0; l < int(c.num_layers); ++l) {
      const CudaLayerWeights& L = weights_.layers[size_t(l)];
      // Attention block.
      if (small) {
        cuda::GemvArgs a = gemv_args(L.wqkv, Q + 2 * KV, H, x_.get(), T, cuda::GemvInput::RmsNormF32,
                                     L.attn_norm, nullptr, qkv_.get(), cuda::GemvOutput::Bf16);
        a.dependents_after_wait = l == 0;  // the attention reads embed_step's copy before its wait
        cuda::gemv(a, stream_);
      } else {
        cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), L.attn_norm, T, H, eps, stream_);
        cuda::gemm(*blas_, qkv_.get(), cuda::GemmOutput::Bf16, h_.as<bf16>(), L.wqkv, T, H, Q + 2 * KV);
      }
      if (decode_rows_ && fused_decode_) {
        attention_decode(T, max_keys, l, eps);
      } else {
        head_split_and_attention(T, max_keys, l, eps, small, gemm_prefill);
      }

      if (small) {
        gemv(L.wo, H, Q, att_.get(), T, cuda::GemvInput::Bf16, nullptr, L.bo, x_.get(),
             cuda::GemvOutput::F32Accumulate);
        gemv(L.wgu, 2 * I, H, x_.get(), T, cuda::GemvInput::RmsNormF32, L.mlp_norm, L.bgu, h_.get(),
             cuda::GemvOutput::SwiGluBf16);
        gemv(L.wdown, H, I, h_.get(), T, cuda::GemvInput::Bf16, nullptr, L.bdown, x_.get(),
             cuda::GemvOutput::F32Accumulate);
      } else {
        cuda::gemm(*blas_, x_.get(), cuda::GemmOutput::F32Accumulate, att_.as<bf16>(), L.wo, T, Q, H);
        cuda::bias_add_f32(x_.as<float>(), L.bo, T, H, H, stream_);
        cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), L.mlp_norm, T, H, eps, stream_);
        cuda::gemm(*blas_, gu_.get(), cuda::GemmOutput::Bf16, h_.as<bf16>(), L.wgu, T, H, 2 * I);
        cuda::bias_add_bf16(gu_.as<bf16>(), L.bgu, T, 2 * I, 2 * I, stream_);
        cuda::swiglu_forward(h_.as<bf16>(), gu_.as<bf16>(), T, I, stream_);
        cuda::gemm(*blas_, x_.get(), cuda::GemmOutput::F32Accumulate, h_.as<bf16>(), L.wdown, T, I, H);
        cuda::bias_add_f32(x_.as<float>(), L.bdown, T, H, H, stream_);
      }
    }
  }

  cuda::QkvRopeArgs rope_args(int64_t T, int l, float eps) {
    const ModelConfig& c = config();
    const CudaLayerWeights& L = weights_.layers[size_t(l)];
    const StepArrays d = dev();
    cuda::QkvRopeArgs r;
    r.qkv = qkv_.as<bf16>();
    r.bias = L.bqkv;
    r.q_norm = L.q_norm;
    r.k_norm = L.k_norm;
    r.eps = eps;
    r.cos_sin = rope_.as<float>();
    r.positions = d.positions;
    r.slot_of_row = d.slots;
    r.T = T;
    r.heads = int32_t(c.num_heads);
    r.kv_heads = int32_t(c.num_kv_heads);
    r.head_dim = int32_t(c.head_dim);
    r.rot_dim = int32_t(c.rotary_dim());
    r.layer = l;
    r.kv = kv_;
    r.q_out = q_.as<bf16>();
    return r;
  }

  // The head split (bias, q/k norm, rotary, k and v into the cache), then attention: through GEMMs for one
  // long prefill chunk, the flash kernel for prefill tiles, else the split-K kernel row by row.
  void head_split_and_attention(int64_t T, int32_t max_keys, int l, float eps, bool small,
                                bool gemm_prefill) {
    const ModelConfig& c = config();
    const StepArrays d = dev();
    cuda::QkvRopeArgs r = rope_args(T, l, eps);
    cuda::qkv_rope(r, stream_);
    if (!small && gemm_prefill) {
      cuda::PrefillGemmArgs pa;
      pa.q = q_.as<bf16>();
      pa.T = T;
      pa.heads = int32_t(c.num_heads);
      pa.pos0 = entries_[0].pos0;
      pa.table = tables_.as<int32_t>() + int64_t(entries_[0].seq) * table_stride_;
      pa.layer = l;
      pa.kv = kv_;
      pa.scale = 1.0f / std::sqrt(float(c.head_dim));
      pa.out = att_.as<bf16>();
      pa.scratch = prefill_scratch_.get();
      cuda::attention_prefill_gemm(*blas_, pa, stream_);
    } else if (!small && !decode_rows_ && cuda::flash_supports(int32_t(c.head_dim))) {
      cuda::FlashArgs fa;
      fa.q = q_.as<bf16>();
      fa.heads = int32_t(c.num_heads);
      fa.tiles = d.tiles;
      fa.n_tiles = int32_t(n_tiles_);
      fa.tables = tables_.as<int32_t>();
      fa.table_stride = table_stride_;
      fa.scale = 1.0f / std::sqrt(float(c.head_dim));
      fa.layer = l;
      fa.kv = kv_;
      fa.out = att_.as<bf16>();
      cuda::attention_flash(fa, stream_);
    } else {
      attention_rows(T, max_keys, l);
    }
  }

  // The fields both row-by-row attention kernels take: block tables, the rows' sequences and key counts, the
  // output and the split-K scratch.
  template <typename Args>
  void paged_rows(Args& a, int32_t max_keys) {
    const StepArrays d = dev();
    a.tables = tables_.as<int32_t>();
    a.table_stride = table_stride_;
    a.row_seq = d.row_seq;
    a.n_keys = d.n_keys;
    a.max_keys = max_keys;
    a.scale = 1.0f / std::sqrt(float(config().head_dim));
    a.out = att_.as<bf16>();
    a.partial = partial_.as<float>();
  }

  // Decode rows (each a sequence's one new token): the head split and attention in one kernel.
  void attention_decode(int64_t T, int32_t max_keys, int l, float eps) {
    cuda::DecodeAttentionArgs a;
    a.rope = rope_args(T, l, eps);
    paged_rows(a, max_keys);
    a.counters = counters_.as<int32_t>();
    cuda::attention_decode(a, stream_);
  }

  // Split-K attention, one query row at a time (decode steps, and head dims the flash kernel lacks).
  void attention_rows(int64_t T, int32_t max_keys, int layer) {
    cuda::AttentionArgs at;
    at.q = q_.as<bf16>();
    at.rows = T;
    at.heads = int32_t(config().num_heads);
    at.layer = layer;
    at.kv = kv_;
    paged_rows(at, max_keys);
    cuda::attention_paged(at, stream_);
  }

  cuda::KvLayout kv_;
  cuda::DeviceBuffer kv_pool_, qkv_, q_, att_, gu_, partial_, counters_, prefill_scratch_;
  bool fused_decode_ = false;  // the model's head shape suits attention_decode()
};

}  // namespace

int cuda_runtime_device_count() {
  return cuda::device_count();
}

double cuda_measure_copy_bandwidth() {
  return cuda::measure_copy_bandwidth();
}

std::unique_ptr<Runtime> create_cuda_runtime(std::shared_ptr<const Model> model,
                                             const RuntimeOptions& options) {
  try {
    if (model->config.is_deepseek()) return create_cuda_mla_runtime(std::move(model), options);
    return std::make_unique<CudaRuntime>(std::move(model), options);
  } catch (const cuda::CudaError& e) {
    if (e.out_of_memory())
      throw OutOfMemoryError(cat("GPU out of memory while loading the model: ", e.what()));
    throw Error(e.what());
  }
}

}  // namespace r1
