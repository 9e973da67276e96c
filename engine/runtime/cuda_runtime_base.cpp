#include "cuda_runtime_base.h"

#include <algorithm>
#include <cstring>

#include "engine/core/error.h"
#include "engine/model/rope.h"
#include "kernels/cuda/embedding.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/host_copy.h"
#include "kernels/cuda/rmsnorm.h"

namespace r1 {
namespace {

constexpr int kStepArrays = 6;                  // of one int per row (StepArrays, then the tiles)
constexpr int64_t kStepInts = kStepArrays + 4;  // and a flash tile (4 ints) per row at most
constexpr int64_t kMaxBlocksPerSm = 32;  // resident blocks of a multiprocessor at most (Hopper): a one-wave
                                         // GEMV has no more than this many a multiprocessor

StepArrays carve(int32_t* base, int64_t rows) {
  return {base,
          base + rows,
          base + 2 * rows,
          base + 3 * rows,
          base + 4 * rows,
          base + 5 * rows,
          reinterpret_cast<cuda::FlashTile*>(base + 6 * rows)};
}

}  // namespace

CudaRuntimeBase::CudaRuntimeBase(std::shared_ptr<const Model> model, const RuntimeOptions& o)
    : Runtime(std::move(model), o), blocks_(planned_blocks(), kBlockSize, o.max_sequences) {
  if (cuda::device_count() == 0) fail("no CUDA device found; use --device cpu");
  R1_CUDA_CHECK(cudaSetDevice(0));
}

CudaRuntimeBase::~CudaRuntimeBase() {
  for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
  if (stream_) cudaStreamSynchronize(stream_);
  cudaFreeHost(step_host_);
  cudaFreeHost(tables_host_);
  cudaFreeHost(sampling_host_);
  cudaFreeHost(tokens_host_);
  blas_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

int64_t CudaRuntimeBase::planned_blocks() const {
  return int64_t(max_sequences_) * ((max_context_ + kBlockSize - 1) / kBlockSize + 1);
}

KvCacheStats CudaRuntimeBase::paged_kv_stats(int64_t bytes_per_token_layer, int64_t total_bytes) const {
  KvCacheStats s = usage_stats();
  s.bytes_per_token_layer = bytes_per_token_layer;
  s.bytes_per_token = bytes_per_token_layer * config().num_layers;
  s.capacity_tokens = blocks_.num_blocks() * kBlockSize;
  s.total_bytes = total_bytes;
  s.blocks_total = blocks_.num_blocks();
  s.blocks_used = blocks_.used_blocks();
  return s;
}

void CudaRuntimeBase::check_fits(int64_t weights, int64_t cache, int64_t activations) const {
  const ModelConfig& c = config();
  const int64_t S = max_sequences_;
  const int64_t own = std::max<int64_t>(max_batch_tokens_, S) * c.vocab_size * 4 +
                      int64_t(S) * max_context_ * 4 * 2 + max_context_ * c.rotary_dim() * 4;
  const int64_t acts = activations + own;
  const auto info = cuda::device_info();
  const int64_t need = weights + cache + acts + (int64_t(256) << 20);
  if (need > int64_t(info.free_memory))
    throw OutOfMemoryError(cat("model does not fit on ", info.name, ": needs ", need >> 20, " MiB (weights ",
                               weights >> 20, ", KV cache ", cache >> 20, ", activations ", acts >> 20,
                               ") but ", info.free_memory >> 20,
                               " MiB are free; lower the context or sequences"));
}

void CudaRuntimeBase::allocate_common() {
  const ModelConfig& c = config();
  R1_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  blas_ = std::make_unique<cuda::Blas>();
  blas_->set_stream(stream_);
  const int64_t S = max_sequences_;
  table_stride_ = int32_t((max_context_ + kBlockSize - 1) / kBlockSize);
  tables_.allocate(size_t(S) * table_stride_ * 4);
  R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&tables_host_), size_t(S) * table_stride_ * 4));
  uploaded_blocks_.assign(size_t(S), 0);
  history_.allocate(size_t(S) * size_t(max_context_) * 4);
  std::vector<float> rope(size_t(max_context_ * c.rotary_dim()));
  fill_rope_table(rope.data(), rope_frequencies(c), max_context_);
  rope_.allocate(std::max<size_t>(rope.size(), 1) * 4);
  R1_CUDA_CHECK(cudaMemcpy(rope_.get(), rope.data(), rope.size() * 4, cudaMemcpyHostToDevice));
  logit_rows_ = std::max<int64_t>(max_batch_tokens_, S);
  logits_.allocate(size_t(logit_rows_ * c.vocab_size) * 4);
  bests_.allocate(size_t(cuda::sm_count()) * kMaxBlocksPerSm * sizeof(cuda::ArgBest));
  step_rows_ = max_batch_tokens_;
  step_dev_.allocate(size_t(kStepInts * step_rows_) * 4);
  constexpr size_t kSteps = kMaxDecodeSteps;
  R1_CUDA_CHECK(
      cudaMallocHost(reinterpret_cast<void**>(&step_host_), kSteps * size_t(kStepInts * step_rows_) * 4));
  R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&sampling_host_),
                               kSteps * size_t(S) * sizeof(cuda::RowSampling)));
  R1_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&tokens_host_), kSteps * size_t(S) * 4));
  chained_tokens_.allocate(kSteps * size_t(S) * 4);
  // Kernels read the step's inputs and sampling rows, and write the tokens, through these addresses.
  step_host_dev_ = cuda::host_device_pointer(step_host_);
  sampling_host_dev_ = cuda::host_device_pointer(sampling_host_);
  tokens_host_dev_ = cuda::host_device_pointer(tokens_host_);
}

void CudaRuntimeBase::forward_sample(std::span<const SequenceInput> batch,
                                     std::span<const SamplingParams> params, int32_t* out_tokens) {
  if (params.size() != batch.size())
    fail("forward_sample: ", params.size(), " settings for ", batch.size(), " sequences");
  if (int64_t(batch.size()) > logit_rows_) fail("forward_sample: more sequences than the runtime holds");
  if (in_flight_) sync();  // a kernel may still read the pinned sampling rows
  for (size_t i = 0; i < batch.size(); ++i) {
    params[i].validate();
    if (batch[i].all_logits) fail("forward_sample: sequence ", batch[i].seq, " asks for all logits");
    const int seq = batch[i].seq;
    set_sampling_row(int64_t(i), params[i], seq, sequence_length(seq) + int64_t(batch[i].tokens.size()));
  }
  sampling_rows_ = int64_t(batch.size());
  forward_to(batch, logits_.as<float>(), true);
  if (!sampled_in_graph_) sample(sampling_rows_);
  sampled_in_graph_ = false;
  sync();
  std::memcpy(out_tokens, tokens_host_, batch.size() * 4);
  sampling_rows_ = 0;
}

void CudaRuntimeBase::set_sampling_row(int64_t i, const SamplingParams& p, int seq, int64_t position) {
  const uint64_t key = draw_seed(p.seed, uint64_t(position));
  cuda::RowSampling& r = sampling_host_[i];
  r.temperature = p.temperature;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.repetition_penalty = p.repetition_penalty;
  r.top_k = p.top_k;
  r.key_lo = uint32_t(key);
  r.key_hi = uint32_t(key >> 32);
  r.history = history_.as<int32_t>() + int64_t(seq) * max_context_;
  r.history_len = int32_t(position);
}

void CudaRuntimeBase::set_step_row(const StepArrays& h, int64_t T, int seq, int64_t pos, int32_t id) {
  h.ids[T] = id;
  h.positions[T] = int32_t(pos);
  h.slots[T] = blocks_.slot(seq, pos);
  h.row_seq[T] = seq;
  h.n_keys[T] = int32_t(pos + 1);
}

int32_t* CudaRuntimeBase::step_slice(int32_t* base, int k) const {
  return base + int64_t(k) * kStepInts * step_rows_;
}

// Chained decode steps: the cache blocks, step arrays and sampling rows of every step are prepared on the
// host first (each step's positions are known; only its token comes from the step before), then one graph
// runs the steps, each embedding reading the tokens the sampler before it wrote, and the host reads all the
// tokens after one sync. The first call of a shape runs the steps one at a time, so lazy initialisation
// stays out of the graph, as forward_sample does.
void CudaRuntimeBase::forward_sample_steps(std::span<const SequenceInput> batch,
                                           std::span<const SamplingParams> params, int steps,
                                           int32_t* out_tokens) {
  check_steps(batch, params, steps);
  const int64_t B = int64_t(batch.size());
  if (steps == 1 || B > step_rows_ || ++chained_seen_[{B, steps}] < 2)
    return Runtime::forward_sample_steps(batch, params, steps, out_tokens);
  if (in_flight_) sync();  // kernels may still read the pinned buffers
  cuda::fault_point(stream_);
  // Cache blocks first: a failure here leaves nothing half-written.
  for (const auto& e : batch) {
    const int64_t len = sequence_length(e.seq);
    for (const auto& cp : blocks_.prepare_write(e.seq, len, len + steps)) copy_block(cp.from, cp.to);
    upload_table(e.seq);
  }
  entries_.clear();
  for (int k = 0; k < steps; ++k) {
    const StepArrays h = carve(step_slice(step_host_, k), step_rows_);
    for (int64_t b = 0; b < B; ++b) {
      const int seq = batch[size_t(b)].seq;
      const int64_t pos = sequence_length(seq) + k;
      set_step_row(h, b, seq, pos, k == 0 ? batch[size_t(b)].tokens[0] : 0);
      h.out_rows[b] = int32_t(b);
      h.tiles[b] = {int32_t(b), 1, seq, int32_t(pos)};
      set_sampling_row(k * max_sequences_ + b, params[size_t(b)], seq, pos + 1);
      if (k == 0) entries_.push_back({seq, b, 1, pos});
    }
  }
  n_tiles_ = B;
  decode_rows_ = true;
  sampling_rows_ = B;
  in_flight_ = true;
  run_graph(B, steps);
  sync();
  for (int k = 0; k < steps; ++k)
    std::memcpy(out_tokens + k * B, tokens_host_ + int64_t(k) * max_sequences_, size_t(B) * 4);
  sampling_rows_ = 0;
  record_steps(batch, steps, out_tokens);
}

void CudaRuntimeBase::copy_weights(const void* block, const std::function<void(const WeightCopy&)>& each) {
  const auto* src = static_cast<const cuda::bf16*>(block);
  if (in_flight_) sync();
  R1_CUDA_CHECK(cudaDeviceSynchronize());  // the trainer's stream has finished writing the block
  each([&](cuda::bf16* dst, int64_t offset, int64_t n, const char* what) {
    if (!dst) return;
    if (offset < 0) fail("copy_weights_from_device: the trainer's layout has no ", what);
    R1_CUDA_CHECK(cudaMemcpyAsync(dst, src + offset, size_t(n) * 2, cudaMemcpyDeviceToDevice, stream_));
  });
  sync();
}

void CudaRuntimeBase::on_fork(int src, int dst) {
  const int64_t len = lengths_[size_t(src)];
  blocks_.share(src, dst, len);
  upload_table(dst);
  R1_CUDA_CHECK(cudaMemcpyAsync(history_.as<int32_t>() + int64_t(dst) * max_context_,
                                history_.as<int32_t>() + int64_t(src) * max_context_, size_t(len) * 4,
                                cudaMemcpyDeviceToDevice, stream_));
}

void CudaRuntimeBase::forward_chunk(std::span<const SequenceInput> batch, const int64_t* starts,
                                    LogitTarget target) {
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
  entries_.clear();
  bool decode_only = true;
  for (size_t b = 0; b < batch.size(); ++b) {
    const auto& e = batch[b];
    entries_.push_back({e.seq, T, int64_t(e.tokens.size()), starts[b]});
    decode_only = decode_only && e.tokens.size() == 1 && !e.all_logits;
    decode_rows_ = decode_rows_ && e.tokens.size() == 1;
    for (size_t i = 0; i < e.tokens.size(); i += cuda::kFlashTileRows)
      h.tiles[n_tiles_++] = {int32_t(T + int64_t(i)),
                             int32_t(std::min<size_t>(cuda::kFlashTileRows, e.tokens.size() - i)), e.seq,
                             int32_t(starts[b] + int64_t(i))};
    for (size_t i = 0; i < e.tokens.size(); ++i, ++T) {
      const int64_t pos = starts[b] + int64_t(i);
      set_step_row(h, T, e.seq, pos, e.tokens[i]);
      max_keys = std::max<int64_t>(max_keys, pos + 1);
      if (e.all_logits || i + 1 == e.tokens.size()) h.out_rows[n_out++] = int32_t(T);
    }
  }
  in_flight_ = true;
  const bool want = target.data != nullptr;
  const bool sample_here =
      want && target.on_device && sampling_rows_ == n_out && target.data == logits_.as<float>();
  if (decode_only && sample_here && ++decode_steps_seen_[T] > 1) {
    // The first step of a batch size runs eagerly, so lazy initialisation stays out of the graph.
    run_graph(T);
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

void CudaRuntimeBase::sync() {
  R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
  in_flight_ = false;
}

// Sends a sequence's block table to the device when it changed (a new block every block_size tokens).
void CudaRuntimeBase::upload_table(int seq) {
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

// The step's first kernel: it copies the step's rows of each input array, and its flash tiles, from the
// pinned buffer, and embeds the step's tokens, reading their ids from the pinned buffer in the same round
// trip.
void CudaRuntimeBase::embed_step(int64_t T, int64_t width) {
  int32_t* src = step_slice(step_host_dev_, graph_step_);
  const StepArrays h = carve(src, step_rows_);
  cuda::EmbeddingArgs a;
  a.x = x_.as<float>();
  // A chained step's tokens are the ones the step before it sampled.
  a.ids =
      graph_step_ == 0 ? h.ids : chained_tokens_.as<int32_t>() + int64_t(graph_step_ - 1) * max_sequences_;
  a.ids_after_wait = graph_step_ > 0;
  a.table = weights_.embed;
  a.T = T;
  a.dim = width;
  a.history = history_.as<int32_t>();
  a.history_stride = max_context_;
  a.row_seq = h.row_seq;
  a.positions = h.positions;
  a.copy_src = src;
  a.copy_dst = step_dev_.as<int32_t>();
  for (int k = 0; k < kStepArrays; ++k) a.copy.offset[k] = k * step_rows_, a.copy.count[k] = T;
  a.copy.offset[kStepArrays] = kStepArrays * step_rows_;
  a.copy.count[kStepArrays] = 4 * n_tiles_;
  cuda::embedding_forward(a, stream_);
}

// Samples rows [0, n) of the logits with the pinned sampling rows (the step's slice of them); the kernel
// writes the tokens straight into pinned memory, so no copy back is needed, and into chained_tokens_, where
// the next step of a chained launch reads them.
void CudaRuntimeBase::sample(int64_t n) {
  const bool bests = bests_ready_ && n == 1;
  const int64_t at = int64_t(graph_step_) * max_sequences_;
  cuda::sample_rows(logits_.as<float>(), n, config().vocab_size, sampling_host_dev_ + at,
                    tokens_host_dev_ + at, stream_, bests ? bests_.as<cuda::ArgBest>() : nullptr,
                    bests ? int32_t(n_bests_) : 0, chained_tokens_.as<int32_t>() + at);
}

StepArrays CudaRuntimeBase::dev() const {
  return carve(step_dev_.as<int32_t>(), step_rows_);
}

void CudaRuntimeBase::lm_head(int64_t T, int64_t n_out, float* out) {
  const ModelConfig& c = config();
  const int64_t H = c.hidden_size;
  bests_ready_ = false;
  if (n_out == T && cuda::gemv_supports(T, H)) {
    cuda::GemvArgs a = gemv_args(weights_.lm_head, c.vocab_size, H, x_.get(), T, cuda::GemvInput::RmsNormF32,
                                 weights_.final_norm, nullptr, out, cuda::GemvOutput::F32);
    if (T == 1 && out == logits_.as<float>()) {
      n_bests_ = cuda::gemv_blocks(a);
      bests_ready_ = n_bests_ * int64_t(sizeof(cuda::ArgBest)) <= int64_t(bests_.bytes());
      if (bests_ready_) a.best = bests_.as<cuda::ArgBest>();
    }
    cuda::gemv(a, stream_);
    return;
  }
  cuda::rmsnorm_forward(h_.as<cuda::bf16>(), x_.as<float>(), weights_.final_norm, n_out, H,
                        float(c.rms_norm_eps), stream_, dev().out_rows);
  cuda::gemm(*blas_, out, cuda::GemmOutput::F32, h_.as<cuda::bf16>(), weights_.lm_head, n_out, H,
             c.vocab_size);
}

cuda::GemvArgs CudaRuntimeBase::gemv_args(const cuda::bf16* w, int64_t n, int64_t k, const void* x,
                                          int64_t batch, cuda::GemvInput in, const cuda::bf16* norm,
                                          const cuda::bf16* bias, void* y, cuda::GemvOutput out) const {
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
  return a;
}

void CudaRuntimeBase::gemv(const cuda::bf16* w, int64_t n, int64_t k, const void* x, int64_t batch,
                           cuda::GemvInput in, const cuda::bf16* norm, const cuda::bf16* bias, void* y,
                           cuda::GemvOutput out) {
  cuda::gemv(gemv_args(w, n, k, x, batch, in, norm, bias, y, out), stream_);
}

// Decode steps of B sequences: every kernel, the LM head and the sampling, captured once per (B, steps) and
// replayed; the graph reads its inputs from the fixed step and sampling buffers (a slice per step).
void CudaRuntimeBase::run_graph(int64_t B, int steps) {
  auto it = graphs_.find({B, steps});
  if (it == graphs_.end()) {
    cudaGraph_t graph = nullptr;
    R1_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      for (int k = 0; k < steps; ++k) {
        graph_step_ = k;
        run_layers(B, int32_t(max_context_));
        lm_head(B, B, logits_.as<float>());
        sample(B);
      }
    } catch (...) {
      graph_step_ = 0;
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    graph_step_ = 0;
    R1_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    R1_CUDA_CHECK(err);
    it = graphs_.emplace(std::make_pair(B, steps), exec).first;
  }
  R1_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
}

}  // namespace r1
