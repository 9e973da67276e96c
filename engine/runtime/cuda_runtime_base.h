#pragma once
// What every CUDA runtime shares, whatever its layers: the stream and cuBLAS handle, the paged cache's block
// bookkeeping and device block tables, the per-step inputs packed into one upload, sampling on the device
// (one host sync per step, to read the sampled ids, or per chain of steps), decode steps captured once per
// batch size (and chain length) as CUDA graphs and replayed, the LM head, and the copy of trained weights. A
// subclass owns its cache memory and its layers: run_layers() turns the step's ids into the fp32 residual
// stream x_.
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "block_allocator.h"
#include "cuda_weights.h"
#include "kernels/cuda/attention_prefill.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/sampling.h"
#include "runtime.h"

namespace r1 {

// Per-step inputs, packed into one pinned host buffer and one device buffer (a single upload per step).
struct StepArrays {
  int32_t *ids, *positions, *slots, *row_seq, *n_keys, *out_rows;
  cuda::FlashTile* tiles;
};

class CudaRuntimeBase : public Runtime {
 public:
  ~CudaRuntimeBase() override;

  Device device() const override { return Device::Cuda; }
  void forward_sample(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                      int32_t* out_tokens) override;
  void forward_sample_steps(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                            int steps, int32_t* out_tokens) override;
  bool chains_decode_steps() const override { return true; }

 protected:
  static constexpr int32_t kBlockSize = 16;

  CudaRuntimeBase(std::shared_ptr<const Model> model, const RuntimeOptions& o);

  // One entry of the step being run: its rows [row0, row0 + rows) start at position pos0.
  struct Entry {
    int seq;
    int64_t row0, rows, pos0;
  };

  // Throws OutOfMemoryError naming the parts when weights + cache + activations (the subclass's, plus what
  // this class allocates) do not fit in the device's free memory.
  void check_fits(int64_t weights, int64_t cache, int64_t activations) const;
  // Allocates what this class owns; call after check_fits, with the residual (x_) and normed (h_) rows
  // allocated by the subclass.
  void allocate_common();

  // The step's rows into x_ (fp32, [T, hidden]); max_keys bounds every row's keys (the context in a graph).
  // It starts with embed_step(), which also brings the step's inputs (dev()) to the device.
  virtual void run_layers(int64_t T, int32_t max_keys) = 0;
  // The step's first kernel: copies the step's inputs from the pinned buffer to dev() and embeds its T tokens
  // into x_ (width: the residual's), reading their ids from the pinned buffer in the same round trip.
  void embed_step(int64_t T, int64_t width);
  // Copies every layer's cache contents of one block into another (copy-on-write of a shared block).
  virtual void copy_block(int32_t from, int32_t to) = 0;
  void on_truncate(int seq, int64_t length) override { blocks_.truncate(seq, length); }
  void on_fork(int src, int dst) override;
  void forward_chunk(std::span<const SequenceInput> batch, const int64_t* starts,
                     LogitTarget target) override;

  int64_t planned_blocks() const;
  // The paged cache's figures, given what one token takes in one layer and the pool's size.
  KvCacheStats paged_kv_stats(int64_t bytes_per_token_layer, int64_t total_bytes) const;
  StepArrays dev() const;
  void sync();
  // Final norm on the rows that produce logits, then the LM head into `out` (device, fp32).
  void lm_head(int64_t T, int64_t n_out, float* out);
  cuda::GemvArgs gemv_args(const cuda::bf16* w, int64_t n, int64_t k, const void* x, int64_t batch,
                           cuda::GemvInput in, const cuda::bf16* norm, const cuda::bf16* bias, void* y,
                           cuda::GemvOutput out) const;
  void gemv(const cuda::bf16* w, int64_t n, int64_t k, const void* x, int64_t batch, cuda::GemvInput in,
            const cuda::bf16* norm, const cuda::bf16* bias, void* y, cuda::GemvOutput out);
  // Brings a trainer's weights over device to device (see Runtime::copy_weights_from_device): `copy` moves
  // n values at the layout's offset into dst (skipping null destinations).
  using WeightCopy = std::function<void(cuda::bf16* dst, int64_t offset, int64_t n, const char* what)>;
  void copy_weights(const void* block, const std::function<void(const WeightCopy&)>& each);

  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Blas> blas_;
  CudaWeights weights_;
  BlockAllocator blocks_;
  cuda::DeviceBuffer tables_, history_, rope_, x_, h_;
  int32_t table_stride_ = 0;
  std::vector<Entry> entries_;  // the step being run
  int64_t n_tiles_ = 0;
  bool decode_rows_ = false;  // one token per sequence

 private:
  void upload_table(int seq);
  void sample(int64_t n);
  // Decode steps of B sequences, captured once per (B, steps) and replayed.
  void run_graph(int64_t B, int steps = 1);
  // Row i of the pinned sampling rows for the token sampled at `position` of sequence seq.
  void set_sampling_row(int64_t i, const SamplingParams& p, int seq, int64_t position);
  // Row T of the step arrays h: the token `id` of sequence seq at position pos.
  void set_step_row(const StepArrays& h, int64_t T, int seq, int64_t pos, int32_t id);
  // Step k's slice of a step-array buffer (the pinned one, by its host or device address): a chained
  // launch gives each step its own.
  int32_t* step_slice(int32_t* base, int k) const;

  int32_t* tables_host_ = nullptr;  // pinned mirror of the device block tables
  std::vector<size_t> uploaded_blocks_;
  bool in_flight_ = false;  // kernels or async uploads may still be reading the pinned buffers
  std::map<int64_t, int64_t> decode_steps_seen_;
  std::map<std::pair<int64_t, int>, int64_t> chained_seen_;  // forward_sample_steps calls per (B, steps)
  cuda::DeviceBuffer logits_;
  // The LM head's block bests for one row of logits_ (GemvArgs::best), which the greedy sampler reduces
  // instead of sweeping the row's 151 936 logits with one block: valid while bests_ready_ (set by each
  // lm_head()). Batch-1 decode of the 1.5B shape on the H200, same call: 893-897 tok/s against 886-893.
  cuda::DeviceBuffer bests_;
  int64_t n_bests_ = 0;
  bool bests_ready_ = false;
  int64_t logit_rows_ = 0;
  int64_t step_rows_ = 0;
  cuda::DeviceBuffer step_dev_;
  int32_t* step_host_ = nullptr;
  cuda::RowSampling* sampling_host_ = nullptr;
  int32_t* tokens_host_ = nullptr;
  int32_t *step_host_dev_ = nullptr, *tokens_host_dev_ = nullptr;  // device addresses of the pinned buffers
  cuda::RowSampling* sampling_host_dev_ = nullptr;
  int64_t sampling_rows_ = 0;
  bool sampled_in_graph_ = false;
  std::map<std::pair<int64_t, int>, cudaGraphExec_t> graphs_;  // per (B, steps)
  // Steps chained in one graph (forward_sample_steps): each step's step arrays, sampling rows and tokens
  // have their own pinned slice (kMaxDecodeSteps of each), and a step's sampler also writes its tokens to
  // chained_tokens_ ([kMaxDecodeSteps][max_sequences]), which the next step's embedding reads.
  int graph_step_ = 0;  // the step being captured, 0 outside a chained capture
  cuda::DeviceBuffer chained_tokens_;
};

}  // namespace r1
