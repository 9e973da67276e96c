#pragma once
// One training batch: B rows of L positions, right-padded; row b holds one sequence starting at position 0.
// targets[t] is the token that follows ids[t] in its row (0 at padding and the last position); weights[t]
// scales that token's loss term (0 for prompt tokens in SFT, padding, and the last position of a row).
#include <cstdint>
#include <vector>

namespace r1 {

struct TrainBatch {
  int64_t B = 0, L = 0;
  std::vector<int32_t> ids;      // [B * L]
  std::vector<int32_t> targets;  // [B * L]
  std::vector<float> weights;    // [B * L]

  int64_t tokens() const { return B * L; }
  // Rows [b0, b1) as a batch of their own (a data-parallel rank's share, a micro-batch).
  TrainBatch rows(int64_t b0, int64_t b1) const {
    TrainBatch out;
    out.B = b1 - b0, out.L = L;
    out.ids.assign(ids.begin() + b0 * L, ids.begin() + b1 * L);
    out.targets.assign(targets.begin() + b0 * L, targets.begin() + b1 * L);
    out.weights.assign(weights.begin() + b0 * L, weights.begin() + b1 * L);
    return out;
  }
  double weight_sum() const {
    double s = 0;
    for (float w : weights) s += w;
    return s;
  }
};

}  // namespace r1
