// CUDA backend for the Llama-family decoder: bf16 weights and activations, fp32 residual stream,
// accumulation and logits; a paged KV cache; decode steps of up to kGemvMaxBatch sequences run as
// matrix-vector kernels with the norm, activation and residual add fused in, and are replayed from a
// CUDA graph; larger batches and prefill use cuBLAS. Sampling happens on the device, so a decode step
// copies back only the sampled ids: one host sync per step.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "block_allocator.h"
#include "cuda_runtime_factory.h"
#include "cuda_weights.h"
#include "engine/core/error.h"
#include "engine/model/rope.h"
#include "engine/train/param_layout.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_prefill.h"
#include "kernels/cuda/attention_prefill_gemm.h"
#include "kernels/cuda/bias_add.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/qkv_rope.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/sampling.h"
#include "kernels/cuda/swiglu.h"

namespace r1 {
namespace {

using cuda::bf16;
constexpr int32_t kBlockSize = 16;
// Prefill chunks of one sequence with at least this many rows attend through cuBLAS GEMMs, when their
// scratch (one KV group's fp32 scores) stays within kPrefillGemmScratchMax; the flash kernel serves the rest.
constexpr int64_t kPrefillGemmMinRows = 128;
constexpr size_t kPrefillGemmScratchMax = size_t(768) << 20;

// Per-step inputs, packed into one pinned host buffer and one device buffer (a single upload per step).
struct StepArrays {
  int32_t *ids, *positions, *slots, *row_seq, *n_keys, *out_rows;
  cuda::FlashTile* tiles;
};

constexpr int64_t kStepInts =
    6 + 4;  // six arrays of one int per row, and a flash tile (4 ints) per row at most

StepArrays carve(int32_t* base, int64_t rows) {
  return {base,
          base + rows,
          base + 2 * rows,
          base + 3 * rows,
          base + 4 * rows,
          base + 5 * rows,
          reinterpret_cast<cuda::FlashTile*>(base + 6 * rows)};
}

class CudaRuntime final : public Runtime {
 public:
  CudaRuntime(std::shared_ptr<const Model> model, const RuntimeOptions& o)
      : Runtime(std::move(model), o), blocks_(planned_blocks(), kBlockSize, o.max_sequences) {
    const ModelConfig& c = config();
    if (cuda::device_count() == 0) fail("no CUDA device found; use --device cpu");
    const int64_t D = c.head_dim;
    if (D > 256 || D % 8 != 0 || 32 % (D / 8) != 0 || c.rotary_dim() > D)
      fail(c.architecture, ": head_dim ", D,
           " is not supported by the CUDA backend (8, 16, 32, 64, 128 or 256)");
    R1_CUDA_CHECK(cudaSetDevice(0));
    check_fits();
    R1_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    blas_ = std::make_unique<cuda::Blas>();
    blas_->set_stream(stream_);
    weights_ = upload_weights(*model_, stream_);
    const int64_t Tm = max_batch_tokens_, S = max_sequences_;
    kv_.num_blocks = blocks_.num_blocks();
    kv_.block_size = kBlockSize;
    kv_.kv_heads = int32_t(c.num_kv_heads);
    kv_.head_dim = int32_t(c.head_dim);
    kv_.layers = int32_t(c.num_layers);
    kv_pool_.allocate(size_t(kv_.bytes()));
    kv_.pool = kv_pool_.as<bf16>();
    table_stride_ = int32_t((max_context_ + kBlockSize - 1) / kBlockSize);
    tables_.allocate(size_t(S) * table_stride_ * 4);
    R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&tables_host_), size_t(S) * table_stride_ * 4));
    uploaded_blocks_.assign(size_t(S), 0);
    history_.allocate(size_t(S) * size_t(max_context_) * 4);
    std::vector<float> rope(size_t(max_context_ * c.rotary_dim()));
    fill_rope_table(rope.data(), rope_frequencies(c), max_context_);
    rope_.allocate(rope.size() * 4);
    R1_CUDA_CHECK(cudaMemcpy(rope_.get(), rope.data(), rope.size() * 4, cudaMemcpyHostToDevice));
    const int64_t Q = c.q_dim(), KV = c.kv_dim(), H = c.hidden_size, I = c.intermediate_size;
    x_.allocate(size_t(Tm * H) * 4);
    h_.allocate(size_t(Tm * std::max(H, I)) * 2);
    qkv_.allocate(size_t(Tm * (Q + 2 * KV)) * 2);
    q_.allocate(size_t(Tm * Q) * 2);
    att_.allocate(size_t(Tm * Q) * 2);
    gu_.allocate(size_t(Tm * 2 * I) * 2);
    const int64_t partial =
        cuda::attention_partial_floats(Tm, int32_t(c.num_heads), int32_t(c.head_dim), int32_t(max_context_));
    partial_.allocate(size_t(std::max<int64_t>(partial, 1)) * 4);
    if (const size_t bytes = prefill_gemm_bytes()) prefill_scratch_.allocate(bytes);
    logit_rows_ = std::max(Tm, S);
    logits_.allocate(size_t(logit_rows_ * c.vocab_size) * 4);
    step_rows_ = Tm;
    step_dev_.allocate(size_t(kStepInts * step_rows_) * 4);
    R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&step_host_), size_t(kStepInts * step_rows_) * 4));
    sampling_dev_.allocate(size_t(S) * sizeof(cuda::RowSampling));
    R1_CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&sampling_host_), size_t(S) * sizeof(cuda::RowSampling)));
    tokens_dev_.allocate(size_t(S) * 4);
    R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&tokens_host_), size_t(S) * 4));
    R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  ~CudaRuntime() override {
    for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
    if (stream_) cudaStreamSynchronize(stream_);
    cudaFreeHost(step_host_);
    cudaFreeHost(tables_host_);
    cudaFreeHost(sampling_host_);
    cudaFreeHost(tokens_host_);
    blas_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  Device device() const override { return Device::Cuda; }

  std::string device_description() const override {
    const auto info = cuda::device_info();
    return cat(info.name, ", bf16 weights (", weights_.bytes >> 20, " MiB), paged KV cache ", kv_.num_blocks,
               " blocks x ", kBlockSize, " tokens (", kv_.bytes() >> 20, " MiB)");
  }

  KvCacheStats kv_stats() const override {
    KvCacheStats s = usage_stats();
    const ModelConfig& c = config();
    s.bytes_per_token_layer = 2 * c.kv_dim() * 2;
    s.bytes_per_token = s.bytes_per_token_layer * c.num_layers;
    s.capacity_tokens = blocks_.num_blocks() * kBlockSize;
    s.total_bytes = kv_.bytes();
    s.blocks_total = blocks_.num_blocks();
    s.blocks_used = blocks_.used_blocks();
    return s;
  }

  void forward_sample(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                      int32_t* out_tokens) override {
    if (params.size() != batch.size())
      fail("forward_sample: ", params.size(), " settings for ", batch.size(), " sequences");
    if (int64_t(batch.size()) > logit_rows_) fail("forward_sample: more sequences than the runtime holds");
    for (size_t i = 0; i < batch.size(); ++i) {
      params[i].validate();
      if (batch[i].all_logits) fail("forward_sample: sequence ", batch[i].seq, " asks for all logits");
      const int seq = batch[i].seq;
      const uint64_t position = uint64_t(sequence_length(seq)) + batch[i].tokens.size();
      const uint64_t key = draw_seed(params[i].seed, position);
      cuda::RowSampling& r = sampling_host_[i];
      r.temperature = params[i].temperature;
      r.top_p = params[i].top_p;
      r.min_p = params[i].min_p;
      r.repetition_penalty = params[i].repetition_penalty;
      r.top_k = params[i].top_k;
      r.key_lo = uint32_t(key);
      r.key_hi = uint32_t(key >> 32);
      r.history = history_.as<int32_t>() + int64_t(seq) * max_context_;
      r.history_len = int32_t(position);
    }
    sampling_rows_ = int64_t(batch.size());
    R1_CUDA_CHECK(cudaMemcpyAsync(sampling_dev_.get(), sampling_host_,
                                  batch.size() * sizeof(cuda::RowSampling), cudaMemcpyHostToDevice, stream_));
    forward_to(batch, logits_.as<float>(), true);
    if (!sampled_in_graph_) {
      cuda::sample_rows(logits_.as<float>(), sampling_rows_, config().vocab_size,
                        sampling_dev_.as<cuda::RowSampling>(), tokens_dev_.as<int32_t>(), stream_);
    }
    sampled_in_graph_ = false;
    R1_CUDA_CHECK(
        cudaMemcpyAsync(tokens_host_, tokens_dev_.get(), batch.size() * 4, cudaMemcpyDeviceToHost, stream_));
    sync();
    std::memcpy(out_tokens, tokens_host_, batch.size() * 4);
    sampling_rows_ = 0;
  }

  bool copy_weights_from_device(const ParamLayout& p, const void* block) override {
    const ModelConfig& c = config();
    if (p.layers.size() != weights_.layers.size())
      fail("copy_weights_from_device: ", p.layers.size(), " layers for a model of ", weights_.layers.size());
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    const int64_t D = c.head_dim, V = c.vocab_size;
    const auto* src = static_cast<const bf16*>(block);
    if (in_flight_) sync();
    R1_CUDA_CHECK(cudaDeviceSynchronize());  // the trainer's stream has finished writing the block
    const auto copy = [&](bf16* dst, int64_t offset, int64_t n, const char* what) {
      if (!dst) return;
      if (offset < 0) fail("copy_weights_from_device: the trainer's layout has no ", what);
      R1_CUDA_CHECK(cudaMemcpyAsync(dst, src + offset, size_t(n) * 2, cudaMemcpyDeviceToDevice, stream_));
    };
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
    sync();
    return true;
  }

 protected:
  void on_truncate(int seq, int64_t length) override { blocks_.truncate(seq, length); }

  void on_fork(int src, int dst) override {
    const int64_t len = lengths_[size_t(src)];
    blocks_.share(src, dst, len);
    upload_table(dst);
    R1_CUDA_CHECK(cudaMemcpyAsync(history_.as<int32_t>() + int64_t(dst) * max_context_,
                                  history_.as<int32_t>() + int64_t(src) * max_context_, size_t(len) * 4,
                                  cudaMemcpyDeviceToDevice, stream_));
  }

  void forward_chunk(std::span<const SequenceInput> batch, const int64_t* starts,
                     LogitTarget target) override {
    const ModelConfig& c = config();
    if (in_flight_) sync();  // the pinned step and table buffers are about to be rewritten
    cuda::fault_point(stream_);
    // Cache blocks first: a failure here leaves nothing half-written.
    for (size_t b = 0; b < batch.size(); ++b) {
      const int seq = batch[b].seq;
      const auto copies = blocks_.prepare_write(seq, starts[b], starts[b] + int64_t(batch[b].tokens.size()));
      for (const auto& cp : copies) copy_block(cp.from, cp.to);
      upload_table(seq);
    }
    StepArrays h = carve(step_host_, step_rows_);
    int64_t T = 0, n_out = 0, max_keys = 0;
    n_tiles_ = 0;
    decode_rows_ = true;
    bool decode_only = true;
    for (size_t b = 0; b < batch.size(); ++b) {
      const auto& e = batch[b];
      decode_only = decode_only && e.tokens.size() == 1 && !e.all_logits;
      decode_rows_ = decode_rows_ && e.tokens.size() == 1;
      for (size_t i = 0; i < e.tokens.size(); i += cuda::kFlashTileRows)
        h.tiles[n_tiles_++] = {int32_t(T + int64_t(i)),
                               int32_t(std::min<size_t>(cuda::kFlashTileRows, e.tokens.size() - i)), e.seq,
                               int32_t(starts[b] + int64_t(i))};
      for (size_t i = 0; i < e.tokens.size(); ++i, ++T) {
        const int64_t pos = starts[b] + int64_t(i);
        h.ids[T] = e.tokens[i];
        h.positions[T] = int32_t(pos);
        h.slots[T] = blocks_.slot(e.seq, pos);
        h.row_seq[T] = e.seq;
        h.n_keys[T] = int32_t(pos + 1);
        max_keys = std::max<int64_t>(max_keys, pos + 1);
        if (e.all_logits || i + 1 == e.tokens.size()) h.out_rows[n_out++] = int32_t(T);
      }
    }
    R1_CUDA_CHECK(cudaMemcpyAsync(step_dev_.get(), step_host_, size_t(kStepInts * step_rows_) * 4,
                                  cudaMemcpyHostToDevice, stream_));
    in_flight_ = true;
    const bool gemm_prefill = batch.size() == 1 && T >= kPrefillGemmMinRows && prefill_scratch_.get();
    prefill_seq_ = gemm_prefill ? batch[0].seq : -1;
    prefill_pos0_ = starts[0];
    const bool want = target.data != nullptr;
    const bool sample_here =
        want && target.on_device && sampling_rows_ == n_out && target.data == logits_.as<float>();
    if (decode_only && sample_here && ++decode_steps_seen_[T] > 1) {
      run_graph(
          T);  // the first step of a batch size runs eagerly, so lazy initialisation stays out of the graph
      sampled_in_graph_ = true;
    } else {
      run_layers(T, int32_t(max_keys));
      if (want) lm_head(T, n_out, target.on_device ? target.data : logits_.as<float>());
    }
    if (want && !target.on_device) {
      R1_CUDA_CHECK(cudaMemcpyAsync(target.data, logits_.get(), size_t(n_out * c.vocab_size) * 4,
                                    cudaMemcpyDeviceToHost, stream_));
      sync();
    }
  }

 private:
  // The GEMM prefill path's scratch, or 0 when it would be too large (or the chunks are too short to use it).
  size_t prefill_gemm_bytes() const {
    const ModelConfig& c = config();
    if (max_batch_tokens_ < kPrefillGemmMinRows) return 0;
    const size_t bytes = cuda::prefill_gemm_scratch_bytes(
        max_batch_tokens_, max_context_, int32_t(c.num_heads), int32_t(c.num_kv_heads), int32_t(c.head_dim));
    return bytes <= kPrefillGemmScratchMax ? bytes : 0;
  }

  int64_t planned_blocks() const {
    return int64_t(max_sequences_) * ((max_context_ + kBlockSize - 1) / kBlockSize + 1);
  }

  void check_fits() const {
    const ModelConfig& c = config();
    const int64_t weights = cuda_weight_bytes(*model_);
    const int64_t kv = planned_blocks() * kBlockSize * c.num_layers * 2 * c.kv_dim() * 2;
    const int64_t Tm = max_batch_tokens_;
    const int64_t acts =
        Tm * (c.hidden_size * 4 + std::max(c.hidden_size, c.intermediate_size) * 2 +
              (c.q_dim() + 2 * c.kv_dim()) * 2 + 2 * c.q_dim() * 2 + 2 * c.intermediate_size * 2) +
        std::max<int64_t>(Tm, max_sequences_) * c.vocab_size * 4 +
        cuda::attention_partial_floats(Tm, int32_t(c.num_heads), int32_t(c.head_dim), int32_t(max_context_)) *
            4 +
        int64_t(prefill_gemm_bytes());
    const auto info = cuda::device_info();
    const int64_t need = weights + kv + acts + (int64_t(256) << 20);
    if (need > int64_t(info.free_memory))
      throw OutOfMemoryError(cat("model does not fit on ", info.name, ": needs ", need >> 20,
                                 " MiB (weights ", weights >> 20, ", KV cache ", kv >> 20, ", activations ",
                                 acts >> 20, ") but ", info.free_memory >> 20,
                                 " MiB are free; lower the context or sequences"));
  }

  void sync() {
    R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
    in_flight_ = false;
  }

  // Sends a sequence's block table to the device when it changed (a new block every block_size tokens).
  void upload_table(int seq) {
    const auto& t = blocks_.table(seq);
    int32_t* mirror = tables_host_ + int64_t(seq) * table_stride_;
    const size_t known = uploaded_blocks_[size_t(seq)];
    if (known == t.size() && std::equal(t.begin(), t.end(), mirror)) return;
    if (in_flight_) sync();
    std::copy(t.begin(), t.end(), mirror);
    uploaded_blocks_[size_t(seq)] = t.size();
    if (t.empty()) return;
    R1_CUDA_CHECK(cudaMemcpyAsync(tables_.as<int32_t>() + int64_t(seq) * table_stride_, mirror, t.size() * 4,
                                  cudaMemcpyHostToDevice, stream_));
    in_flight_ = true;
  }

  void copy_block(int32_t from, int32_t to) {
    const size_t bytes = size_t(kv_.block_elems()) * 2;
    for (int l = 0; l < kv_.layers; ++l) {
      R1_CUDA_CHECK(cudaMemcpyAsync(kv_.k_block(l, to), kv_.k_block(l, from), bytes, cudaMemcpyDeviceToDevice,
                                    stream_));
      R1_CUDA_CHECK(cudaMemcpyAsync(kv_.v_block(l, to), kv_.v_block(l, from), bytes, cudaMemcpyDeviceToDevice,
                                    stream_));
    }
  }

  StepArrays dev() const { return carve(step_dev_.as<int32_t>(), step_rows_); }

  void run_layers(int64_t T, int32_t max_keys) {
    const ModelConfig& c = config();
    const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
    const float eps = float(c.rms_norm_eps);
    const StepArrays d = dev();
    cuda::EmbeddingArgs emb{x_.as<float>(),         d.ids,        weights_.embed, T,          H,
                            history_.as<int32_t>(), max_context_, d.row_seq,      d.positions};
    cuda::embedding_forward(emb, stream_);
    // The GEMV path when the kernel takes every input width at this row count (its shared-memory bound
    // included), else cuBLAS.
    const bool small = cuda::gemv_supports(T, H) && cuda::gemv_supports(T, I) && cuda::gemv_supports(T, Q);
    for (int l = 0; l < int(c.num_layers); ++l) {
      const CudaLayerWeights& L = weights_.layers[size_t(l)];
      // Attention block.
      if (small) {
        gemv(L.wqkv, Q + 2 * KV, H, x_.get(), T, cuda::GemvInput::RmsNormF32, L.attn_norm, nullptr,
             qkv_.get(), cuda::GemvOutput::Bf16);
      } else {
        cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), L.attn_norm, T, H, eps, stream_);
        cuda::gemm(*blas_, qkv_.get(), cuda::GemmOutput::Bf16, h_.as<bf16>(), L.wqkv, T, H, Q + 2 * KV);
      }
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
      cuda::qkv_rope(r, stream_);
      if (!small && prefill_seq_ >= 0) {
        cuda::PrefillGemmArgs pa;
        pa.q = q_.as<bf16>();
        pa.T = T;
        pa.heads = int32_t(c.num_heads);
        pa.pos0 = prefill_pos0_;
        pa.table = tables_.as<int32_t>() + int64_t(prefill_seq_) * table_stride_;
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

  // Split-K attention, one query row at a time (decode steps, and head dims the flash kernel lacks).
  void attention_rows(int64_t T, int32_t max_keys, int layer) {
    const ModelConfig& c = config();
    const StepArrays d = dev();
    cuda::AttentionArgs at;
    at.q = q_.as<bf16>();
    at.rows = T;
    at.heads = int32_t(c.num_heads);
    at.tables = tables_.as<int32_t>();
    at.table_stride = table_stride_;
    at.row_seq = d.row_seq;
    at.n_keys = d.n_keys;
    at.max_keys = max_keys;
    at.scale = 1.0f / std::sqrt(float(c.head_dim));
    at.layer = layer;
    at.kv = kv_;
    at.out = att_.as<bf16>();
    at.partial = partial_.as<float>();
    cuda::attention_paged(at, stream_);
  }

  // Final norm on the rows that produce logits, then the LM head into `out` (device, fp32).
  void lm_head(int64_t T, int64_t n_out, float* out) {
    const ModelConfig& c = config();
    const int64_t H = c.hidden_size;
    if (n_out == T && cuda::gemv_supports(T, H)) {
      gemv(weights_.lm_head, c.vocab_size, H, x_.get(), T, cuda::GemvInput::RmsNormF32, weights_.final_norm,
           nullptr, out, cuda::GemvOutput::F32);
      return;
    }
    cuda::rmsnorm_forward(h_.as<bf16>(), x_.as<float>(), weights_.final_norm, n_out, H, float(c.rms_norm_eps),
                          stream_, dev().out_rows);
    cuda::gemm(*blas_, out, cuda::GemmOutput::F32, h_.as<bf16>(), weights_.lm_head, n_out, H, c.vocab_size);
  }

  void gemv(const bf16* w, int64_t n, int64_t k, const void* x, int64_t batch, cuda::GemvInput in,
            const bf16* norm, const bf16* bias, void* y, cuda::GemvOutput out) {
    cuda::GemvArgs a;
    a.w = w;
    a.n = n;
    a.k = k;
    a.x = x;
    a.batch = batch;
    a.input = in;
    a.norm_w = norm;
    a.eps = float(config().rms_norm_eps);
    a.bias = bias;
    a.y = y;
    a.output = out;
    cuda::gemv(a, stream_);
  }

  // A decode step of B sequences: every kernel, the LM head and the sampling, captured once per B and
  // replayed; the graph reads this step's inputs from the fixed step and sampling buffers.
  void run_graph(int64_t B) {
    auto it = graphs_.find(B);
    if (it == graphs_.end()) {
      cudaGraph_t graph = nullptr;
      R1_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      try {
        run_layers(B, int32_t(max_context_));
        lm_head(B, B, logits_.as<float>());
        cuda::sample_rows(logits_.as<float>(), B, config().vocab_size, sampling_dev_.as<cuda::RowSampling>(),
                          tokens_dev_.as<int32_t>(), stream_);
      } catch (...) {
        cudaStreamEndCapture(stream_, &graph);
        if (graph) cudaGraphDestroy(graph);
        throw;
      }
      R1_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      R1_CUDA_CHECK(err);
      it = graphs_.emplace(B, exec).first;
    }
    R1_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
  }

  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Blas> blas_;
  CudaWeights weights_;
  BlockAllocator blocks_;
  cuda::KvLayout kv_;
  cuda::DeviceBuffer kv_pool_, tables_, history_, rope_;
  int32_t table_stride_ = 0;
  int32_t* tables_host_ = nullptr;  // pinned mirror of the device block tables
  std::vector<size_t> uploaded_blocks_;
  bool in_flight_ = false;  // async uploads from pinned buffers may still be reading them
  std::map<int64_t, int64_t> decode_steps_seen_;
  cuda::DeviceBuffer x_, h_, qkv_, q_, att_, gu_, partial_, logits_, prefill_scratch_;
  int prefill_seq_ = -1;  // this chunk's one sequence when its attention goes through GEMMs, else -1
  int64_t prefill_pos0_ = 0;
  int64_t logit_rows_ = 0;
  int64_t n_tiles_ = 0;
  bool decode_rows_ = false;  // one token per sequence: split-K attention beats 1-row flash tiles
  int64_t step_rows_ = 0;
  cuda::DeviceBuffer step_dev_;
  int32_t* step_host_ = nullptr;
  cuda::DeviceBuffer sampling_dev_, tokens_dev_;
  cuda::RowSampling* sampling_host_ = nullptr;
  int32_t* tokens_host_ = nullptr;
  int64_t sampling_rows_ = 0;
  bool sampled_in_graph_ = false;
  std::map<int64_t, cudaGraphExec_t> graphs_;
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
  if (model->config.is_deepseek())
    fail(model->config.architecture, " (MLA and MoE) does not run on the CUDA backend yet; use --device cpu");
  try {
    return std::make_unique<CudaRuntime>(std::move(model), options);
  } catch (const cuda::CudaError& e) {
    if (e.out_of_memory())
      throw OutOfMemoryError(cat("GPU out of memory while loading the model: ", e.what()));
    throw Error(e.what());
  }
}

}  // namespace r1
