#pragma once
// GRPO's arithmetic (DeepSeekMath §4.1, with the later variants): group-relative advantages, the clipped
// surrogate with separate lower and upper clip ranges (DAPO's clip-higher), the k3 KL estimator to a frozen
// reference, and the ways of aggregating token terms into one loss. Pure functions and a TokenObjective; the
// step loop is in grpo_run.h.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/train/trainer.h"

namespace r1 {

enum class AdvantageScale {
  Group,
  Batch,
  None
};  // divide (r - group mean) by the group's std, the batch's, or 1
AdvantageScale parse_advantage_scale(const std::string& s);

// rewards [groups * G] in group order -> advantages (r - mean_group) / (std + eps); std is the population
// std.
std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t G, AdvantageScale scale,
                                     double eps = 1e-4);

// How token terms become the loss (per-token weights, summed):
//   grpo     1 / (|o_i| * N): each sequence's mean, averaged over the N sequences (DeepSeekMath)
//   dr_grpo  1 / (max_completion * N): no length normalisation bias (Dr. GRPO; use with AdvantageScale::None)
//   dapo     1 / Σ_i |o_i| over the whole step: every token counts the same (DAPO)
//   bnpo     1 / Σ_i |o_i| over each micro-batch: as dapo within a micro-batch
enum class LossAggregation { Grpo, DrGrpo, Dapo, Bnpo };
LossAggregation parse_loss_aggregation(const std::string& s);
const char* loss_aggregation_name(LossAggregation a);

struct GrpoLossConfig {
  double epsilon_low = 0.2, epsilon_high = 0.2;
  double beta = 0.0;  // KL coefficient; 0 holds no reference model
};

// Per token t with weight w_t > 0 (a completion token), advantage A_t, log-probabilities logp (current),
// old (rollout policy; null: the current values, detached) and ref (reference; used when beta > 0):
//   r = exp(logp - old),  surrogate = min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)
//   kl = exp(ref - logp) - (ref - logp) - 1             (k3, unbiased and non-negative)
//   loss = Σ_t w_t (-surrogate + beta kl)
class GrpoObjective final : public TokenObjective {
 public:
  GrpoObjective(const GrpoLossConfig& cfg, const float* weights, const float* advantages,
                const float* old_logp, const float* ref_logp)
      : cfg_(cfg), w_(weights), adv_(advantages), old_(old_logp), ref_(ref_logp) {}
  double chunk(int64_t row0, int64_t n, const float* logp, const float* entropy, float* g_logp,
               float* g_entropy) override;

  struct Stats {
    double tokens = 0;           // completion tokens seen
    double clipped_low = 0;      // r < 1 - eps_low with A < 0: the update is held back
    double clipped_high = 0;     // r > 1 + eps_high with A > 0
    double kl = 0, entropy = 0;  // sums over tokens
    double policy_loss = 0;      // Σ w (-surrogate)
    void add(const Stats& s) {
      tokens += s.tokens, clipped_low += s.clipped_low, clipped_high += s.clipped_high;
      kl += s.kl, entropy += s.entropy, policy_loss += s.policy_loss;
    }
  };
  const Stats& stats() const { return stats_; }

 private:
  GrpoLossConfig cfg_;
  const float *w_, *adv_, *old_, *ref_;
  Stats stats_;
};

}  // namespace r1
