#include "moe_train.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

void check_routing(const char* op, int64_t T, int64_t top_k, int64_t n_experts, int64_t dim) {
  if (T < 0 || top_k <= 0 || n_experts <= 0 || top_k > n_experts || dim <= 0)
    throw std::invalid_argument(
        std::string(op) + ": needs T >= 0, 0 < top_k <= n_experts and dim > 0, got T=" + std::to_string(T) +
        " top_k=" + std::to_string(top_k) + " n_experts=" + std::to_string(n_experts) +
        " dim=" + std::to_string(dim));
}

// Ops that see only the slots (not which experts they chose).
void check_slots(const char* op, int64_t T, int64_t top_k, int64_t dim) {
  check_routing(op, T, top_k, top_k, dim);
}

}  // namespace

void moe_router_forward(int32_t* expert_ids, float* weights, float* scores, const float* logits, int64_t T,
                        const RouterConfig& cfg, float* scratch) {
  check_routing("moe_router_forward", T, cfg.top_k, cfg.n_experts, 1);
  moe_route_forward(expert_ids, weights, logits, T, cfg, scratch);
  const int64_t E = cfg.n_experts;
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) moe_router_scores(scores + t * E, logits + t * E, E, cfg.scoring);
      },
      64);
}

void moe_router_backward(float* dlogits, const float* dweights, const int32_t* expert_ids,
                         const float* scores, int64_t T, const RouterConfig& cfg) {
  check_routing("moe_router_backward", T, cfg.top_k, cfg.n_experts, 1);
  const int64_t E = cfg.n_experts, K = cfg.top_k;
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int32_t* ids = expert_ids + t * K;
          const float* g = dweights + t * K;
          const float* q = scores + t * E;
          float* dz = dlogits + t * E;
          // w_j = s p_j / S with S = Σ p + 1e-20 (or w_j = s p_j):  dp_j = (s / S) (g_j - Σ_i g_i p_i / S).
          double sum = 0, dot = 0;
          for (int64_t j = 0; j < K; ++j) {
            sum += q[ids[j]];
            dot += double(g[j]) * q[ids[j]];
          }
          const double S = sum + 1e-20, s = cfg.scaling;
          const auto dp = [&](int64_t j) {
            return cfg.normalize ? s / S * (double(g[j]) - dot / S) : s * double(g[j]);
          };
          std::fill_n(dz, E, 0.0f);
          if (cfg.scoring == RouterScoring::Sigmoid) {
            for (int64_t j = 0; j < K; ++j) {
              const double p = q[ids[j]];
              dz[ids[j]] = float(dp(j) * p * (1.0 - p));
            }
          } else {
            // Softmax: dz_e = q_e (dq_e - Σ_i dq_i q_i), with dq non-zero only at the chosen experts.
            double inner = 0;
            for (int64_t j = 0; j < K; ++j) inner += dp(j) * q[ids[j]];
            for (int64_t e = 0; e < E; ++e) dz[e] = float(-double(q[e]) * inner);
            for (int64_t j = 0; j < K; ++j) dz[ids[j]] += float(double(q[ids[j]]) * dp(j));
          }
        }
      },
      64);
}

void moe_dispatch_forward(float* xe, int32_t* offsets, int32_t* row_token, int32_t* slot_row, const float* x,
                          const int32_t* expert_ids, int64_t T, int64_t top_k, int64_t n_experts,
                          int64_t dim) {
  check_routing("moe_dispatch_forward", T, top_k, n_experts, dim);
  const int64_t R = T * top_k;
  for (int64_t s = 0; s < R; ++s)
    if (expert_ids[s] < 0 || expert_ids[s] >= n_experts)
      throw std::invalid_argument("moe_dispatch_forward: expert id " + std::to_string(expert_ids[s]) +
                                  " at slot " + std::to_string(s) + " is outside [0, " +
                                  std::to_string(n_experts) + ")");
  // Counting sort by expert; slots are visited in order, so tokens stay ascending within an expert.
  std::fill_n(offsets, n_experts + 1, 0);
  for (int64_t s = 0; s < R; ++s) ++offsets[expert_ids[s] + 1];
  for (int64_t e = 0; e < n_experts; ++e) offsets[e + 1] += offsets[e];
  for (int64_t s = 0; s < R; ++s) {
    const int32_t row = offsets[expert_ids[s]]++;
    slot_row[s] = row;
    row_token[row] = int32_t(s / top_k);
  }
  for (int64_t e = n_experts; e > 0; --e) offsets[e] = offsets[e - 1];
  offsets[0] = 0;
  parallel_for(
      R,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          std::memcpy(xe + r * dim, x + int64_t(row_token[r]) * dim, size_t(dim) * sizeof(float));
      },
      16);
}

void moe_dispatch_backward(float* dx, const float* dxe, const int32_t* slot_row, int64_t T, int64_t top_k,
                           int64_t dim) {
  check_slots("moe_dispatch_backward", T, top_k, dim);
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          float* d = dx + t * dim;
          std::memcpy(d, dxe + int64_t(slot_row[t * top_k]) * dim, size_t(dim) * sizeof(float));
          for (int64_t j = 1; j < top_k; ++j) {
            const float* src = dxe + int64_t(slot_row[t * top_k + j]) * dim;
            for (int64_t c = 0; c < dim; ++c) d[c] += src[c];
          }
        }
      },
      16);
}

void moe_combine_forward(float* out, const float* ye, const float* weights, const int32_t* slot_row,
                         int64_t T, int64_t top_k, int64_t dim) {
  check_slots("moe_combine_forward", T, top_k, dim);
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          float* o = out + t * dim;
          for (int64_t j = 0; j < top_k; ++j) {
            const float w = weights[t * top_k + j];
            const float* y = ye + int64_t(slot_row[t * top_k + j]) * dim;
            for (int64_t c = 0; c < dim; ++c) o[c] += w * y[c];
          }
        }
      },
      16);
}

void moe_combine_backward(float* dye, float* dweights, const float* dy, const float* ye, const float* weights,
                          const int32_t* slot_row, int64_t T, int64_t top_k, int64_t dim) {
  check_slots("moe_combine_backward", T, top_k, dim);
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const float* g = dy + t * dim;
          for (int64_t j = 0; j < top_k; ++j) {
            const int64_t row = slot_row[t * top_k + j];
            const float w = weights[t * top_k + j];
            const float* y = ye + row * dim;
            float* d = dye + row * dim;
            double dot = 0;
            for (int64_t c = 0; c < dim; ++c) {
              dot += double(g[c]) * y[c];
              d[c] = w * g[c];
            }
            dweights[t * top_k + j] = float(dot);
          }
        }
      },
      16);
}

}  // namespace r1::cpu
