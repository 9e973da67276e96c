#include "generator.h"

#include <algorithm>
#include <chrono>

#include "engine/core/error.h"

namespace r1 {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eos:
      return "eos";
    case StopReason::StopString:
      return "stop_string";
    case StopReason::MaxTokens:
      return "max_tokens";
    case StopReason::ContextFull:
      return "context_full";
    case StopReason::Cancelled:
      return "cancelled";
  }
  return "?";
}

double GenerationResult::decode_tokens_per_second() const {
  const int64_t n = int64_t(tokens.size()) - 1;  // the first token comes from the prefill
  return n > 0 && decode_seconds > 0 ? double(n) / decode_seconds : 0.0;
}

Generator::Generator(Runtime& runtime, int seq) : rt_(runtime), seq_(seq) {
  rt_.sequence_length(seq);  // validates seq
}

void Generator::reset() {
  rt_.truncate(seq_, 0);
}

GenerationResult Generator::generate(std::span<const int32_t> context, const GenerateOptions& options,
                                     const SamplingParams& sampling, const TokenCallback& on_token,
                                     const std::atomic<bool>* cancel) {
  if (context.empty()) fail("generate: the prompt is empty");
  if (options.max_new_tokens < 1) fail("generate: max_new_tokens must be at least 1");
  if (!options.stop_strings.empty() && !options.token_bytes)
    fail("generate: stop strings need a tokenizer to turn tokens into text");
  if (int64_t(context.size()) >= rt_.max_context())
    fail("prompt of ", context.size(), " tokens does not fit the context of ", rt_.max_context(), " tokens");
  if (options.steps_per_call < 0 || options.steps_per_call > Runtime::kMaxDecodeSteps)
    fail("generate: steps_per_call must be 0 to ", Runtime::kMaxDecodeSteps);
  sampling.validate();
  const int chain = options.steps_per_call > 0  ? options.steps_per_call
                    : rt_.chains_decode_steps() ? Runtime::kMaxDecodeSteps
                                                : 1;
  GenerationResult res;
  res.prompt_tokens = int64_t(context.size());

  // Reuse the cached prefix; at least one token is fed again to get fresh logits.
  const auto cached = rt_.sequence_tokens(seq_);
  size_t common = 0;
  while (common < cached.size() && common < context.size() && cached[common] == context[common]) ++common;
  common = std::min(common, context.size() - 1);
  rt_.truncate(seq_, int64_t(common));
  res.reused_tokens = int64_t(common);

  std::string text;
  size_t longest_stop = 0;
  for (const auto& s : options.stop_strings) longest_stop = std::max(longest_stop, s.size());

  const auto t0 = std::chrono::steady_clock::now();
  std::span<const int32_t> feed = context.subspan(common);
  bool first = true;
  auto t_decode = t0;
  // Whether generation ends at `tok` (appended to res.tokens), and why.
  const auto ends_at = [&](int32_t tok) {
    const bool keep_going = !on_token || on_token(tok);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), tok) != options.stop_ids.end()) {
      res.reason = StopReason::Eos;
      return true;
    }
    if (longest_stop > 0) {
      text += options.token_bytes(tok);
      const size_t window = longest_stop + 64;
      const size_t from = text.size() > window ? text.size() - window : 0;
      bool hit = false;
      for (const auto& s : options.stop_strings)
        hit = hit || (!s.empty() && text.find(s, from) != std::string::npos);
      if (hit) {
        res.reason = StopReason::StopString;
        return true;
      }
    }
    if (int64_t(res.tokens.size()) >= options.max_new_tokens) {
      res.reason = StopReason::MaxTokens;
      return true;
    }
    if (!keep_going) {
      res.reason = StopReason::Cancelled;
      return true;
    }
    return false;
  };
  int32_t chunk[Runtime::kMaxDecodeSteps];
  for (;;) {
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      res.reason = StopReason::Cancelled;
      break;
    }
    const int64_t held = rt_.sequence_length(seq_);
    if (held + int64_t(feed.size()) > rt_.max_context()) {
      res.reason = StopReason::ContextFull;
      break;
    }
    const SequenceInput in{seq_, feed, false};
    // Decode runs `chain` steps a call while that many fit; tokens past a stop are dropped from the cache.
    const int64_t left = options.max_new_tokens - int64_t(res.tokens.size());
    const int steps = !first && left >= chain && held + chain <= rt_.max_context() ? chain : 1;
    if (steps > 1) {
      rt_.forward_sample_steps({&in, 1}, {&sampling, 1}, steps, chunk);
    } else {
      rt_.forward_sample({&in, 1}, {&sampling, 1}, chunk);
    }
    if (first) {
      res.prefill_seconds = res.first_token_seconds = seconds_since(t0);
      t_decode = std::chrono::steady_clock::now();
      first = false;
    }
    // The sequence now holds the fed token and the chunk's tokens before its last; a stop at token k keeps
    // those before k, a cancel seen before token k those before k - 1, as one step a call would.
    bool done = false;
    for (int k = 0; k < steps && !done; ++k) {
      if (k > 0 && cancel && cancel->load(std::memory_order_relaxed)) {
        res.reason = StopReason::Cancelled;
        rt_.truncate(seq_, held + k);
        done = true;
        break;
      }
      res.tokens.push_back(chunk[k]);
      done = ends_at(chunk[k]);
      if (done && k + 1 < steps) rt_.truncate(seq_, held + 1 + k);
    }
    if (done) break;
    feed = std::span<const int32_t>(&res.tokens.back(), 1);
  }
  res.decode_seconds = first ? 0.0 : seconds_since(t_decode);
  return res;
}

}  // namespace r1
