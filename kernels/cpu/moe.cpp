#include "moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "elementwise.h"
#include "parallel.h"

namespace r1::cpu {
namespace {

constexpr float kExcluded = -std::numeric_limits<float>::infinity();

// Index of the largest value (the first on ties, as a stable top-k keeps it); values of kExcluded never win.
int64_t argmax_of(const float* v, int64_t n) {
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i)
    if (v[i] != kExcluded && (best < 0 || v[i] > v[best])) best = i;
  return best;
}

// A group's rank from the selection values of its experts.
float group_rank(const float* sel, int64_t size, GroupScore how) {
  float first = kExcluded, second = kExcluded;
  for (int64_t i = 0; i < size; ++i) {
    if (sel[i] > first) {
      second = first;
      first = sel[i];
    } else if (sel[i] > second) {
      second = sel[i];
    }
  }
  return how == GroupScore::Max ? first : first + second;
}

// An expert sees few rows. For 16-bit weights, linear_forward's GEMV (weights widened in registers, up to
// kGemvRows rows per pass) then beats widening whole panels for sgemm, up to kSlicedRowsMax rows.
constexpr int64_t kGemvRows = 4, kSlicedRowsMax = 32;

void expert_linear(float* y, const float* x, const void* w, DType dtype, int64_t rows, int64_t in,
                   int64_t out, LinearScratch scratch) {
  if (dtype == DType::F32 || rows > kSlicedRowsMax) {
    linear_forward(y, x, w, dtype, nullptr, rows, in, out, scratch);
    return;
  }
  for (int64_t r = 0; r < rows; r += kGemvRows)
    linear_forward(y + r * out, x + r * in, w, dtype, nullptr, std::min(kGemvRows, rows - r), in, out,
                   scratch);
}

}  // namespace

int64_t moe_route_scratch_floats(const RouterConfig& cfg) {
  return 2 * cfg.n_experts + cfg.n_group;
}

void moe_router_scores(float* scores, const float* z, int64_t E, RouterScoring scoring) {
  if (scoring == RouterScoring::Softmax) {
    float m = z[0];
    for (int64_t e = 1; e < E; ++e) m = std::max(m, z[e]);
    float sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += scores[e] = std::exp(z[e] - m);
    for (int64_t e = 0; e < E; ++e) scores[e] /= sum;
  } else {
    for (int64_t e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + std::exp(-z[e]));
  }
}

void moe_route_forward(int32_t* expert_ids, float* weights, const float* logits, int64_t T,
                       const RouterConfig& cfg, float* scratch) {
  const int64_t E = cfg.n_experts, G = cfg.n_group, per_group = E / std::max<int64_t>(G, 1);
  if (E <= 0 || cfg.top_k <= 0 || G <= 0 || E % G != 0 || cfg.topk_group > G || cfg.topk_group <= 0 ||
      cfg.top_k > cfg.topk_group * per_group)
    throw std::invalid_argument("moe_route_forward: bad router configuration");
  float* scores = scratch;         // [E] softmax or sigmoid of the logits
  float* sel = scratch + E;        // [E] what experts are chosen by: score + bias, kExcluded once out
  float* group = scratch + 2 * E;  // [G]
  for (int64_t t = 0; t < T; ++t) {
    const float* z = logits + t * E;
    moe_router_scores(scores, z, E, cfg.scoring);
    for (int64_t e = 0; e < E; ++e) sel[e] = scores[e] + (cfg.selection_bias ? cfg.selection_bias[e] : 0.0f);
    if (cfg.topk_group < G) {
      // Keep the topk_group best groups (marked by taking them out of `group`); the experts of every other
      // group drop out of the choice.
      for (int64_t g = 0; g < G; ++g) group[g] = group_rank(sel + g * per_group, per_group, cfg.group_score);
      for (int64_t kept = 0; kept < cfg.topk_group; ++kept) group[argmax_of(group, G)] = kExcluded;
      for (int64_t g = 0; g < G; ++g)
        if (group[g] != kExcluded)
          for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) sel[e] = kExcluded;
    }
    int32_t* ids = expert_ids + t * cfg.top_k;
    float* w = weights + t * cfg.top_k;
    float sum = 0;
    for (int64_t k = 0; k < cfg.top_k; ++k) {
      const int64_t e = argmax_of(sel, E);
      sel[e] = kExcluded;
      ids[k] = int32_t(e);
      w[k] = scores[e];
      sum += w[k];
    }
    const float norm = cfg.normalize ? 1.0f / (sum + 1e-20f) : 1.0f;
    for (int64_t k = 0; k < cfg.top_k; ++k) w[k] = w[k] * norm * cfg.scaling;
  }
}

void moe_experts_forward(float* out, const float* x, const int32_t* expert_ids, const float* weights,
                         int64_t T, int64_t top_k, int64_t n_experts, int64_t hidden, int64_t inter,
                         const ExpertMatrices* experts, DType dtype, const MoeScratch& s,
                         int64_t* tokens_per_expert) {
  const int64_t n = T * top_k;
  for (int64_t i = 0; i < n; ++i)
    if (expert_ids[i] < 0 || expert_ids[i] >= n_experts)
      throw std::invalid_argument("moe_experts_forward: expert id out of range");
  // Counting sort of the (token, expert) pairs by expert; tokens stay ascending within an expert.
  std::memset(s.offsets, 0, size_t(n_experts + 1) * sizeof(int32_t));
  for (int64_t i = 0; i < n; ++i) ++s.offsets[expert_ids[i] + 1];
  for (int64_t e = 0; e < n_experts; ++e) s.offsets[e + 1] += s.offsets[e];
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t k = 0; k < top_k; ++k) {
      const int32_t e = expert_ids[t * top_k + k];
      // offsets[e] walks forward while filling and is restored below.
      s.rows[s.offsets[e]] = int32_t(t);
      s.row_weights[s.offsets[e]++] = weights[t * top_k + k];
    }
  }
  for (int64_t e = n_experts; e > 0; --e) s.offsets[e] = s.offsets[e - 1];
  s.offsets[0] = 0;
  for (int64_t e = 0; e < n_experts; ++e) {
    const int32_t begin = s.offsets[e], count = s.offsets[e + 1] - begin;
    if (tokens_per_expert) tokens_per_expert[e] += count;
    if (count == 0) continue;
    for (int32_t i = 0; i < count; ++i)
      std::memcpy(s.x + int64_t(i) * hidden, x + int64_t(s.rows[begin + i]) * hidden,
                  size_t(hidden) * sizeof(float));
    const ExpertMatrices& m = experts[e];
    expert_linear(s.gate, s.x, m.gate, dtype, count, hidden, inter, s.linear);
    expert_linear(s.up, s.x, m.up, dtype, count, hidden, inter, s.linear);
    swiglu_forward(s.gate, s.gate, s.up, int64_t(count) * inter);
    expert_linear(s.y, s.gate, m.down, dtype, count, inter, hidden, s.linear);
    for (int32_t i = 0; i < count; ++i) {
      float* dst = out + int64_t(s.rows[begin + i]) * hidden;
      const float* src = s.y + int64_t(i) * hidden;
      const float w = s.row_weights[begin + i];
      for (int64_t d = 0; d < hidden; ++d) dst[d] += w * src[d];
    }
  }
}

}  // namespace r1::cpu
