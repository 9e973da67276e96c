#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/core/error.h"

namespace r1 {

void SamplingParams::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature)) fail("temperature must be 0 (greedy) or positive");
  if (top_k < 0) fail("top_k must be 0 (off) or positive");
  if (!(top_p > 0 && top_p <= 1)) fail("top_p must be in (0, 1]");
  if (!(min_p >= 0 && min_p < 1)) fail("min_p must be in [0, 1)");
  if (!(repetition_penalty > 0) || !std::isfinite(repetition_penalty))
    fail("repetition_penalty must be positive");
}

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) {  // splitmix64 seeding
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    s = z ^ (z >> 31);
  }
}

uint64_t Rng::next() {  // xoshiro256**
  const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  return double(next() >> 11) * (1.0 / 9007199254740992.0);
}

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

uint64_t draw_seed(uint64_t seed, uint64_t position) {
  uint64_t z = seed ^ (position * 0xd1b54a32d192ed03ull + 0x8cb92ba72f3d8dd7ull);
  z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
  return z ^ (z >> 29);
}

Sampler::Sampler(const SamplingParams& params, int64_t vocab) : params_(params), vocab_(vocab) {
  params_.validate();
  candidates_.resize(size_t(vocab));
  probs_.resize(size_t(vocab));
  penalized_.assign(size_t(vocab), 0);
}

int32_t Sampler::sample(float* logits, std::span<const int32_t> history, uint64_t position) {
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t id : history) {
      if (id < 0 || id >= vocab_ || penalized_[size_t(id)]) continue;
      penalized_[size_t(id)] = 1;
      float& l = logits[id];
      l = l < 0 ? l * params_.repetition_penalty : l / params_.repetition_penalty;
    }
    for (int32_t id : history)
      if (id >= 0 && id < vocab_) penalized_[size_t(id)] = 0;
  }
  if (params_.temperature == 0.0f) return argmax(logits, vocab_);

  // Candidates: top-k if set, else every token; sorted only as far as top-p needs.
  const float inv_t = 1.0f / params_.temperature;
  std::iota(candidates_.begin(), candidates_.end(), 0);
  const auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b]; };
  int64_t n = vocab_;
  if (params_.top_k > 0 && params_.top_k < n) {
    std::nth_element(candidates_.begin(), candidates_.begin() + params_.top_k, candidates_.end(), by_logit);
    n = params_.top_k;
  }
  float max_logit = logits[candidates_[0]];
  for (int64_t i = 1; i < n; ++i) max_logit = std::max(max_logit, logits[candidates_[size_t(i)]]);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::exp(double(logits[candidates_[size_t(i)]] - max_logit) * inv_t);
    probs_[size_t(candidates_[size_t(i)])] = float(p);
    total += p;
  }
  if (params_.top_p < 1.0f) {
    // Sort a growing prefix until it holds top_p of the mass: usually a few hundred tokens, not the
    // vocabulary.
    int64_t sorted = std::min<int64_t>(n, 256);
    for (;;) {
      std::partial_sort(candidates_.begin(), candidates_.begin() + sorted, candidates_.begin() + n, by_logit);
      double mass = 0;
      int64_t keep = 0;
      while (keep < sorted && mass < params_.top_p * total)
        mass += probs_[size_t(candidates_[size_t(keep++)])];
      if (mass >= params_.top_p * total || sorted == n) {
        n = std::max<int64_t>(keep, 1);
        break;
      }
      sorted = std::min<int64_t>(n, sorted * 4);
    }
    total = 0;
    for (int64_t i = 0; i < n; ++i) total += probs_[size_t(candidates_[size_t(i)])];
  }
  if (params_.min_p > 0.0f) {
    const float threshold = params_.min_p;  // relative to the top probability, which is exp(0) = 1
    int64_t kept = 0;
    total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = candidates_[size_t(i)];
      if (probs_[size_t(id)] >= threshold) {
        candidates_[size_t(kept++)] = id;
        total += probs_[size_t(id)];
      }
    }
    n = kept;
  }
  Rng rng(draw_seed(params_.seed, position));
  double r = rng.uniform() * total;
  for (int64_t i = 0; i < n; ++i) {
    r -= probs_[size_t(candidates_[size_t(i)])];
    if (r < 0) return candidates_[size_t(i)];
  }
  return candidates_[size_t(n - 1)];
}

}  // namespace r1
