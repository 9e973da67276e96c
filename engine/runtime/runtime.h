#pragma once
// The inference runtime: one forward signature for every backend, chosen at run time. A runtime owns the
// KV cache of up to max_sequences sequences, planned when it is created; forward appends tokens to the
// listed sequences and returns logits. Batches mix sequences of different lengths (continuous batching).
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "sampler.h"

namespace r1 {

struct ParamLayout;

enum class Device { Cpu, Cuda };

Device parse_device(const std::string& name);
const char* device_name(Device d);

// Multi-head latent attention (DeepSeek): Expanded rebuilds per-head K/V from the latent cache; Absorbed
// folds the up-projections into query and output and attends over the latent itself. Auto expands
// multi-token entries (prefill) and absorbs single-token ones (decode). Both give the same logits.
enum class MlaPath { Auto, Expanded, Absorbed };
MlaPath parse_mla_path(const std::string& name);  // auto, expanded, absorbed

struct RuntimeOptions {
  Device device = Device::Cpu;
  int max_sequences = 1;
  int64_t max_context = 0;           // 0: min(max_position_embeddings, 4096)
  int64_t max_batch_tokens = 0;      // rows per internal forward pass; 0: 512
  MlaPath mla_path = MlaPath::Auto;  // DeepSeek models only
};

struct SequenceInput {
  int seq = 0;
  std::span<const int32_t> tokens;
  bool all_logits = false;  // logits for every token, not only the last
};

struct KvCacheStats {
  int64_t bytes_per_token = 0;  // all layers
  int64_t bytes_per_token_layer = 0;
  int64_t capacity_tokens = 0;  // over all sequences
  int64_t used_tokens = 0;
  int64_t total_bytes = 0;
  int sequences_active = 0;
  int64_t blocks_total = 0;  // paged caches only
  int64_t blocks_used = 0;
};

// Tokens routed to each expert since the runtime was created or last reset, over every forward pass;
// dense layers (below first_k_dense_replace) stay zero.
struct ExpertLoad {
  int64_t layers = 0;
  int64_t experts = 0;
  std::vector<int64_t> tokens;  // [layer][expert]

  int64_t at(int64_t layer, int64_t expert) const {
    return tokens[static_cast<size_t>(layer * experts + expert)];
  }
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config; }
  int max_sequences() const { return max_sequences_; }
  int64_t max_context() const { return max_context_; }
  int64_t sequence_length(int seq) const;

  virtual Device device() const = 0;
  virtual std::string device_description() const = 0;
  virtual KvCacheStats kv_stats() const = 0;

  // Forgets cached tokens from `length` on (0 frees the sequence).
  void truncate(int seq, int64_t length);

  // Makes `dst` hold the same tokens as `src` (dst's old contents are dropped). The paged CUDA cache shares
  // the full blocks of the prefix instead of copying them: G completions of one prompt store it once.
  void fork(int src, int dst);

  // Appends each entry's tokens to its sequence and writes logits to `logits` (fp32, row-major, vocab wide):
  // one row per entry, or one per token where all_logits, in batch order. Throws r1::Error, leaving every
  // sequence as it was, when an id is out of range, a sequence would pass max_context, or a sequence
  // appears twice.
  void forward(std::span<const SequenceInput> batch, float* logits);

  // As forward, then samples one next token per entry with that entry's params (the repetition penalty
  // applies to every token the sequence holds). Entries must not ask for all_logits. The CPU runtime samples
  // on the host; the CUDA runtime samples on the device and copies back only the tokens.
  virtual void forward_sample(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                              int32_t* out_tokens);

  // forward_sample `steps` times, each step feeding every entry the token the step before sampled for it:
  // out_tokens is [steps][batch]. Every entry brings one token. Afterwards each sequence holds that token
  // and the first steps - 1 sampled ones, and the last row is the next to feed, as after the same calls one
  // at a time; a caller that stops at an earlier token truncates the sequences to what it keeps. Throws,
  // leaving every sequence as it was, when the entries are not one token each or the steps do not fit the
  // context. The CUDA runtime runs the steps as one graph launch, with no host round trip between them.
  // chains_decode_steps(): whether this runtime gains from that (else a caller that streams tokens to a
  // reader, as chat does, keeps to one step a call so that each token shows as soon as it is sampled).
  static constexpr int kMaxDecodeSteps = 8;
  virtual bool chains_decode_steps() const { return false; }
  virtual void forward_sample_steps(std::span<const SequenceInput> batch,
                                    std::span<const SamplingParams> params, int steps, int32_t* out_tokens);

  // Takes a trainer's current weights without a trip through the host: `block` is its bf16 compute copy in
  // device memory, laid out as `layout` (the same architecture as this runtime's model). Returns false when
  // this runtime cannot take weights that way (the CPU runtime); the caller then builds a new runtime from
  // the trained model. Cached sequences are left as they are.
  virtual bool copy_weights_from_device(const ParamLayout& /*layout*/, const void* /*block*/) {
    return false;
  }

  // Expert load of a mixture-of-experts model (DeepSeek runtimes); null for every other runtime. The CUDA
  // runtime counts on the device and copies the counts back on this call.
  virtual const ExpertLoad* expert_load() const { return nullptr; }
  virtual void reset_expert_load() {}

  // The tokens a sequence holds (prompt and generated), as fed through forward.
  std::span<const int32_t> sequence_tokens(int seq) const;

  static int64_t logit_rows(std::span<const SequenceInput> batch);

 protected:
  Runtime(std::shared_ptr<const Model> model, const RuntimeOptions& options);

  // Where a chunk's logit rows go: host or device memory; data == nullptr when no rows are wanted.
  struct LogitTarget {
    float* data = nullptr;
    bool on_device = false;
  };

  // Entries fit: total tokens <= max_batch_tokens, context checked, each sequence at most once.
  virtual void forward_chunk(std::span<const SequenceInput> batch, const int64_t* start_positions,
                             LogitTarget out) = 0;
  // Called after truncate/fork changed a sequence's length, so a backend can release or share cache space.
  virtual void on_truncate(int /*seq*/, int64_t /*length*/) {}
  virtual void on_fork(int src, int dst) = 0;

  // Stats with the tokens held and the sequences in use filled in; backends add their sizes.
  KvCacheStats usage_stats() const;

  // The checks of an entry that forward() and forward_sample_steps() share: seq is in range and not yet in
  // `seen` (then added), and e's ids are in the vocabulary and `added` more tokens fit the context.
  void check_sequence_once(int seq, std::set<int>& seen) const;
  void check_tokens_fit(const SequenceInput& e, int64_t added) const;
  // What forward_sample_steps() checks before it changes anything.
  void check_steps(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                   int steps) const;
  // The caller's per-sequence record of fed tokens, after forward_sample_steps() ran on the device.
  void record_steps(std::span<const SequenceInput> batch, int steps, const int32_t* out_tokens);

  // forward() with the rows written from `logits` on, in host or device memory.
  void forward_to(std::span<const SequenceInput> batch, float* logits, bool on_device);

  std::shared_ptr<const Model> model_;
  int max_sequences_;
  int64_t max_context_;
  int64_t max_batch_tokens_;
  std::vector<int64_t> lengths_;
  std::vector<std::vector<int32_t>> tokens_;
  std::vector<float> sample_logits_;
};

std::unique_ptr<Runtime> create_runtime(std::shared_ptr<const Model> model, const RuntimeOptions& options);

// Whether this build has the CUDA backend, and how many devices it sees (0 without one).
bool cuda_built();
int cuda_device_count();
// Device-to-device copy bandwidth of GPU 0 (bytes read + written per second): the decode roofline.
double measure_device_copy_bandwidth();
// Per-op CUDA timings at this configuration's decode (each batch) and prefill shapes, as JSON text; with
// train_batch x train_seq > 0 also the trainer's attention at that shape.
std::string cuda_op_benchmark(const ModelConfig& c, const std::vector<int64_t>& batches,
                              int64_t prefill_tokens, int64_t context, int64_t train_batch = 0,
                              int64_t train_seq = 0);

}  // namespace r1
