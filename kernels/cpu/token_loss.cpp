#include "token_loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

struct RowStats {
  float top;       // max_j z_j
  double lse;      // logsumexp(z)
  double entropy;  // -Σ p log p
};

// With e_j = exp(z_j - top) and S = Σ e_j: lse = top + log S and, as log p_j = z_j - lse,
// entropy = log S - Σ e_j (z_j - top) / S.
RowStats row_stats(const float* z, int64_t V) {
  float top = z[0];
  for (int64_t j = 1; j < V; ++j) top = std::max(top, z[j]);
  double sum = 0, weighted = 0;
  for (int64_t j = 0; j < V; ++j) {
    const double d = double(z[j]) - top;
    const double e = std::exp(d);
    sum += e;
    weighted += e * d;
  }
  const double log_sum = std::log(sum);
  return {top, top + log_sum, log_sum - weighted / sum};
}

void check_targets(const char* op, const int32_t* targets, int64_t rows, int64_t V) {
  if (rows < 0 || V <= 0)
    throw std::invalid_argument(std::string(op) + ": need rows >= 0 and V > 0, got rows=" +
                                std::to_string(rows) + " V=" + std::to_string(V));
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] < 0 || targets[r] >= V)
      throw std::out_of_range(std::string(op) + ": target " + std::to_string(targets[r]) + " of row " +
                              std::to_string(r) + " is outside the vocabulary of " + std::to_string(V));
}

}  // namespace

void token_logprob_forward(float* logp, float* entropy, const float* logits, const int32_t* targets,
                           int64_t rows, int64_t V) {
  check_targets("token_logprob_forward", targets, rows, V);
  parallel_for(rows, [&](int64_t a, int64_t e) {
    for (int64_t r = a; r < e; ++r) {
      const float* z = logits + r * V;
      const RowStats st = row_stats(z, V);
      logp[r] = float(double(z[targets[r]]) - st.lse);
      if (entropy) entropy[r] = float(st.entropy);
    }
  });
}

void token_logprob_backward(float* dlogits, const float* logits, const int32_t* targets, const float* g_logp,
                            const float* g_entropy, int64_t rows, int64_t V) {
  check_targets("token_logprob_backward", targets, rows, V);
  parallel_for(rows, [&](int64_t a, int64_t e) {
    for (int64_t r = a; r < e; ++r) {
      // The row statistics are complete before the first write: dlogits may be the logits themselves.
      const float* z = logits + r * V;
      float* dz = dlogits + r * V;
      const RowStats st = row_stats(z, V);
      const double gl = g_logp[r], ge = g_entropy ? g_entropy[r] : 0.0;
      const int64_t y = targets[r];
      for (int64_t j = 0; j < V; ++j) {
        const double logp = double(z[j]) - st.lse;
        const double p = std::exp(logp);
        dz[j] = float(gl * ((j == y ? 1.0 : 0.0) - p) - ge * p * (logp + st.entropy));
      }
    }
  });
}

}  // namespace r1::cpu
