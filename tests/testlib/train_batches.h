#pragma once
// A random training batch for the trainer suites: uniform token ids and targets, every position carrying a
// loss term except each row's last (which has no next token).
#include <cstdint>
#include <random>

#include "engine/train/batch.h"

namespace r1::test {

inline TrainBatch random_train_batch(int64_t B, int64_t L, int64_t vocab, uint32_t seed) {
  TrainBatch b;
  b.B = B, b.L = L;
  std::mt19937 g(seed);
  for (int64_t i = 0; i < B * L; ++i) {
    b.ids.push_back(int32_t(g() % uint32_t(vocab)));
    b.targets.push_back(int32_t(g() % uint32_t(vocab)));
    b.weights.push_back(i % L == L - 1 ? 0.0f : 1.0f);
  }
  return b;
}

}  // namespace r1::test
