#include "runtime.h"

#include <algorithm>
#include <set>

#include "cpu_runtime.h"
#include "engine/core/error.h"

#ifdef R1WB_HAVE_CUDA
#include "cuda_op_bench.h"
#include "cuda_runtime_factory.h"
#endif

namespace r1 {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda" || name == "gpu") return Device::Cuda;
  fail("unknown device \"", name, "\"; use cpu or cuda");
}

MlaPath parse_mla_path(const std::string& name) {
  if (name == "auto") return MlaPath::Auto;
  if (name == "expanded") return MlaPath::Expanded;
  if (name == "absorbed") return MlaPath::Absorbed;
  fail("unknown attention path \"", name, "\"; use auto, expanded or absorbed");
}

const char* device_name(Device d) {
  return d == Device::Cpu ? "cpu" : "cuda";
}

Runtime::Runtime(std::shared_ptr<const Model> model, const RuntimeOptions& o) : model_(std::move(model)) {
  if (o.max_sequences < 1) fail("runtime: max_sequences must be at least 1");
  max_sequences_ = o.max_sequences;
  const int64_t model_max = model_->config.max_position_embeddings;
  max_context_ = o.max_context > 0 ? o.max_context : std::min<int64_t>(model_max, 4096);
  if (max_context_ > model_max)
    fail("runtime: context of ", max_context_, " tokens exceeds the model's max_position_embeddings (",
         model_max, ")");
  max_batch_tokens_ = o.max_batch_tokens > 0 ? o.max_batch_tokens : 512;
  lengths_.assign(size_t(max_sequences_), 0);
  tokens_.resize(size_t(max_sequences_));
}

std::span<const int32_t> Runtime::sequence_tokens(int seq) const {
  sequence_length(seq);
  return tokens_[size_t(seq)];
}

void Runtime::forward_sample(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                             int32_t* out_tokens) {
  if (params.size() != batch.size())
    fail("forward_sample: ", params.size(), " sampling settings for ", batch.size(), " sequences");
  for (const auto& e : batch)
    if (e.all_logits) fail("forward_sample: sequence ", e.seq, " asks for all logits");
  const int64_t vocab = config().vocab_size;
  sample_logits_.resize(batch.size() * size_t(vocab));
  forward(batch, sample_logits_.data());
  for (size_t i = 0; i < batch.size(); ++i) {
    Sampler sampler(params[i], vocab);
    const auto& seq = tokens_[size_t(batch[i].seq)];
    out_tokens[i] = sampler.sample(sample_logits_.data() + i * size_t(vocab), seq, seq.size());
  }
}

void Runtime::check_steps(std::span<const SequenceInput> batch, std::span<const SamplingParams> params,
                          int steps) const {
  if (steps < 1 || steps > kMaxDecodeSteps)
    fail("forward_sample_steps: ", steps, " steps; 1 to ", kMaxDecodeSteps, " at a time");
  if (params.size() != batch.size())
    fail("forward_sample_steps: ", params.size(), " sampling settings for ", batch.size(), " sequences");
  for (const auto& p : params) p.validate();
  std::set<int> seen;
  for (const auto& e : batch) {
    check_sequence_once(e.seq, seen);
    if (e.tokens.size() != 1 || e.all_logits)
      fail("forward_sample_steps: sequence ", e.seq, " brings ", e.tokens.size(),
           " tokens; each step feeds one token and samples the next");
    check_tokens_fit(e, steps);
  }
}

void Runtime::check_sequence_once(int seq, std::set<int>& seen) const {
  sequence_length(seq);
  if (!seen.insert(seq).second) fail("sequence ", seq, " appears twice in one forward batch");
}

void Runtime::check_tokens_fit(const SequenceInput& e, int64_t added) const {
  const int64_t vocab = config().vocab_size;
  for (int32_t id : e.tokens)
    if (id < 0 || id >= vocab) fail("token id ", id, " is out of range for a vocabulary of ", vocab);
  const int64_t len = lengths_[size_t(e.seq)];
  if (len + added > max_context_)
    fail("context full: sequence ", e.seq, " holds ", len, " tokens and ", added,
         " more exceed the context of ", max_context_);
}

void Runtime::forward_sample_steps(std::span<const SequenceInput> batch,
                                   std::span<const SamplingParams> params, int steps, int32_t* out_tokens) {
  check_steps(batch, params, steps);
  std::vector<SequenceInput> feed(batch.begin(), batch.end());
  const size_t B = batch.size();
  for (int k = 0; k < steps; ++k) {
    int32_t* row = out_tokens + size_t(k) * B;
    forward_sample(feed, params, row);
    for (size_t b = 0; b < B; ++b) feed[b].tokens = std::span<const int32_t>(row + b, 1);
  }
}

void Runtime::record_steps(std::span<const SequenceInput> batch, int steps, const int32_t* out_tokens) {
  const size_t B = batch.size();
  for (size_t b = 0; b < B; ++b) {
    const int seq = batch[b].seq;
    auto& held = tokens_[size_t(seq)];
    held.push_back(batch[b].tokens[0]);
    for (int k = 0; k + 1 < steps; ++k) held.push_back(out_tokens[size_t(k) * B + b]);
    lengths_[size_t(seq)] += steps;
  }
}

int64_t Runtime::sequence_length(int seq) const {
  if (seq < 0 || seq >= max_sequences_)
    fail("sequence ", seq, " is out of range (", max_sequences_, " sequences)");
  return lengths_[size_t(seq)];
}

void Runtime::truncate(int seq, int64_t length) {
  if (length < 0 || length > sequence_length(seq))
    fail("cannot truncate sequence ", seq, " of ", sequence_length(seq), " tokens to ", length);
  lengths_[size_t(seq)] = length;
  tokens_[size_t(seq)].resize(size_t(length));
  on_truncate(seq, length);
}

KvCacheStats Runtime::usage_stats() const {
  KvCacheStats s;
  for (int64_t len : lengths_) {
    s.used_tokens += len;
    s.sequences_active += len > 0 ? 1 : 0;
  }
  return s;
}

int64_t Runtime::logit_rows(std::span<const SequenceInput> batch) {
  int64_t n = 0;
  for (const auto& e : batch) n += e.all_logits ? int64_t(e.tokens.size()) : 1;
  return n;
}

void Runtime::fork(int src, int dst) {
  sequence_length(src);
  sequence_length(dst);
  if (src == dst) return;
  truncate(dst, 0);
  on_fork(src, dst);
  lengths_[size_t(dst)] = lengths_[size_t(src)];
  tokens_[size_t(dst)] = tokens_[size_t(src)];
}

void Runtime::forward(std::span<const SequenceInput> batch, float* logits) {
  forward_to(batch, logits, false);
}

void Runtime::forward_to(std::span<const SequenceInput> batch, float* logits, bool on_device) {
  const int64_t vocab = config().vocab_size;
  std::set<int> seen;
  for (const auto& e : batch) {
    check_sequence_once(e.seq, seen);
    if (e.tokens.empty()) fail("sequence ", e.seq, ": no tokens to process");
    check_tokens_fit(e, int64_t(e.tokens.size()));
  }
  // Split into chunks of at most max_batch_tokens rows; a long entry is split into consecutive pieces.
  std::vector<SequenceInput> chunk;
  std::vector<int64_t> starts;
  int64_t rows = 0;
  float* out = logits;
  const auto flush = [&] {
    if (chunk.empty()) return;
    forward_chunk(chunk, starts.data(), LogitTarget{out, on_device});
    for (size_t i = 0; i < chunk.size(); ++i) {
      lengths_[size_t(chunk[i].seq)] = starts[i] + int64_t(chunk[i].tokens.size());
      auto& held = tokens_[size_t(chunk[i].seq)];
      held.insert(held.end(), chunk[i].tokens.begin(), chunk[i].tokens.end());
    }
    if (out) out += logit_rows(chunk) * vocab;
    chunk.clear();
    starts.clear();
    rows = 0;
  };
  const std::vector<int64_t> saved = lengths_;
  try {
    for (const auto& e : batch) {
      size_t done = 0;
      while (done < e.tokens.size()) {
        if (rows == max_batch_tokens_) flush();
        const size_t take = std::min<size_t>(e.tokens.size() - done, size_t(max_batch_tokens_ - rows));
        const bool last_piece = done + take == e.tokens.size();
        SequenceInput piece{e.seq, e.tokens.subspan(done, take), e.all_logits};
        if (!last_piece && !e.all_logits) {
          // Only the final piece of a last-token-only entry produces a row; earlier pieces fill the cache.
          flush();
          chunk.push_back(piece);
          starts.push_back(lengths_[size_t(e.seq)]);
          forward_chunk(chunk, starts.data(), LogitTarget{});
          lengths_[size_t(e.seq)] += int64_t(take);
          auto& held = tokens_[size_t(e.seq)];
          held.insert(held.end(), piece.tokens.begin(), piece.tokens.end());
          chunk.clear();
          starts.clear();
        } else {
          chunk.push_back(piece);
          starts.push_back(lengths_[size_t(e.seq)]);
          rows += int64_t(take);
        }
        done += take;
      }
    }
    flush();
  } catch (...) {
    lengths_ = saved;
    for (size_t s = 0; s < tokens_.size(); ++s) {
      tokens_[s].resize(size_t(lengths_[s]));
      on_truncate(int(s), lengths_[s]);
    }
    throw;
  }
}

bool cuda_built() {
#ifdef R1WB_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef R1WB_HAVE_CUDA
  return cuda_runtime_device_count();
#else
  return 0;
#endif
}

double measure_device_copy_bandwidth() {
#ifdef R1WB_HAVE_CUDA
  if (cuda_device_count() == 0) fail("no CUDA device found");
  return cuda_measure_copy_bandwidth();
#else
  fail("this build has no CUDA backend");
#endif
}

std::string cuda_op_benchmark(const ModelConfig& c, const std::vector<int64_t>& batches,
                              int64_t prefill_tokens, int64_t context, int64_t train_batch,
                              int64_t train_seq) {
#ifdef R1WB_HAVE_CUDA
  if (cuda_device_count() == 0) fail("no CUDA device found");
  return bench_cuda_ops(c, batches, prefill_tokens, context, train_batch, train_seq).dump(2);
#else
  (void)c, (void)batches, (void)prefill_tokens, (void)context, (void)train_batch, (void)train_seq;
  fail("this build has no CUDA backend");
#endif
}

std::unique_ptr<Runtime> create_runtime(std::shared_ptr<const Model> model, const RuntimeOptions& options) {
  if (options.device == Device::Cpu) return create_cpu_runtime(std::move(model), options);
#ifdef R1WB_HAVE_CUDA
  return create_cuda_runtime(std::move(model), options);
#else
  fail(
      "this build has no CUDA backend (configure with -DR1WB_CUDA=ON where nvcc is installed); use --device "
      "cpu");
#endif
}

}  // namespace r1
