#pragma once
// Token sampling from logits: repetition penalty, then temperature, top-k, top-p and min-p (the order
// transformers applies them), then a draw from a seeded generator. Same seed and logits -> same tokens.
// Greedy when temperature is 0. The full vocabulary is never sorted: candidates are selected partially.
// The random draw depends only on (seed, position): the same seed gives the same text whichever runtime or
// batch produced the logits, and no per-sequence state has to be kept.
#include <cstdint>
#include <span>
#include <vector>

namespace r1 {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  uint64_t seed = 0;

  static SamplingParams greedy() { return SamplingParams{0.0f}; }
  void validate() const;  // throws r1::Error naming the bad setting
};

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1)

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int64_t vocab);

  // Samples one token from `logits` (modified in place); `history` holds the ids the penalty applies to and
  // `position` is the index the sampled token will take in its sequence.
  int32_t sample(float* logits, std::span<const int32_t> history, uint64_t position);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  int64_t vocab_;
  std::vector<int32_t> candidates_;
  std::vector<float> probs_;
  std::vector<uint8_t> penalized_;
};

int32_t argmax(const float* logits, int64_t n);

// The generator seed for one draw: a mix of the sampling seed and the token's position.
uint64_t draw_seed(uint64_t seed, uint64_t position);

}  // namespace r1
