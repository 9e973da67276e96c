#pragma once
// Autoregressive generation on one sequence of a runtime: prefill, then one token at a time, streaming each
// token through a callback. Stops on a stop id (EOS), a stop string, max tokens, a full context, or
// cancellation from another thread (checked between tokens). The longest prefix already in the KV cache is
// reused, so a chat turn only prefills what is new.
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime.h"
#include "sampler.h"

namespace r1 {

enum class StopReason { Eos, StopString, MaxTokens, ContextFull, Cancelled };
const char* stop_reason_name(StopReason r);

struct GenerateOptions {
  int64_t max_new_tokens = 256;
  std::vector<int32_t> stop_ids;
  std::vector<std::string> stop_strings;
  std::function<std::string(int32_t)> token_bytes;  // needed when stop_strings are given
  // Decode steps a runtime call (Runtime::forward_sample_steps), 1 to Runtime::kMaxDecodeSteps; 0: the most
  // on a runtime that chains steps on the device, else 1. Tokens still reach on_token one at a time, and a
  // stop or cancel inside a call leaves the cache as one step a call would.
  int steps_per_call = 0;
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated, including a final stop id
  StopReason reason = StopReason::MaxTokens;
  int64_t prompt_tokens = 0;
  int64_t reused_tokens = 0;  // prompt tokens found in the cache
  double prefill_seconds = 0;
  double decode_seconds = 0;
  double first_token_seconds = 0;

  double decode_tokens_per_second() const;
};

// Return false to stop after this token.
using TokenCallback = std::function<bool(int32_t token)>;

class Generator {
 public:
  explicit Generator(Runtime& runtime, int seq = 0);

  GenerationResult generate(std::span<const int32_t> context, const GenerateOptions& options,
                            const SamplingParams& sampling, const TokenCallback& on_token = {},
                            const std::atomic<bool>* cancel = nullptr);

  // Forgets the cached context (e.g. after the conversation changed).
  void reset();
  std::span<const int32_t> cached_tokens() const { return rt_.sequence_tokens(seq_); }

 private:
  Runtime& rt_;
  int seq_;
};

}  // namespace r1
