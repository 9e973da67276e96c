#include "grpo.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace r1 {

AdvantageScale parse_advantage_scale(const std::string& s) {
  if (s == "group") return AdvantageScale::Group;
  if (s == "batch") return AdvantageScale::Batch;
  if (s == "none") return AdvantageScale::None;
  fail("unknown advantage scaling '", s, "' (expected group, batch or none)");
}

LossAggregation parse_loss_aggregation(const std::string& s) {
  if (s == "grpo") return LossAggregation::Grpo;
  if (s == "dr_grpo") return LossAggregation::DrGrpo;
  if (s == "dapo") return LossAggregation::Dapo;
  if (s == "bnpo") return LossAggregation::Bnpo;
  fail("unknown loss '", s, "' (expected grpo, dr_grpo, dapo or bnpo)");
}

const char* loss_aggregation_name(LossAggregation a) {
  switch (a) {
    case LossAggregation::Grpo:
      return "grpo";
    case LossAggregation::DrGrpo:
      return "dr_grpo";
    case LossAggregation::Dapo:
      return "dapo";
    case LossAggregation::Bnpo:
      return "bnpo";
  }
  return "?";
}

namespace {
double mean_of(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s / double(n);
}
double std_of(const double* x, int64_t n, double mean) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
  return std::sqrt(s / double(n));
}
}  // namespace

std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t G, AdvantageScale scale,
                                     double eps) {
  const int64_t n = int64_t(rewards.size());
  if (G <= 0 || n % G != 0) fail("rewards (", n, ") must be whole groups of ", G);
  std::vector<double> adv(rewards.size());
  const double batch_std = std_of(rewards.data(), n, mean_of(rewards.data(), n));
  for (int64_t g0 = 0; g0 < n; g0 += G) {
    const double mean = mean_of(rewards.data() + g0, G);
    double denom = 1.0;
    if (scale == AdvantageScale::Group) denom = std_of(rewards.data() + g0, G, mean) + eps;
    if (scale == AdvantageScale::Batch) denom = batch_std + eps;
    for (int64_t i = g0; i < g0 + G; ++i) adv[size_t(i)] = (rewards[size_t(i)] - mean) / denom;
  }
  return adv;
}

double GrpoObjective::chunk(int64_t row0, int64_t n, const float* logp, const float* entropy, float* g_logp,
                            float*) {
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = row0 + i;
    const double w = w_[t];
    if (w == 0) continue;
    const double lp = logp[i];
    const double old = old_ ? double(old_[t]) : lp;
    const double a = adv_[t];
    const double r = std::exp(lp - old);
    const double clipped = std::clamp(r, 1.0 - cfg_.epsilon_low, 1.0 + cfg_.epsilon_high);
    // The min picks the unclipped term (gradient A r) unless clipping made it smaller; then it is constant.
    const bool unclipped = r * a <= clipped * a;
    const double surrogate = unclipped ? r * a : clipped * a;
    double g = unclipped ? -a * r : 0.0;
    double term = -surrogate;
    if (cfg_.beta > 0 && ref_) {
      const double d = double(ref_[t]) - lp;
      const double kl = std::exp(d) - d - 1.0;
      term += cfg_.beta * kl;
      g += cfg_.beta * (1.0 - std::exp(d));
      stats_.kl += kl;
    }
    g_logp[i] = float(w * g);
    loss += w * term;
    stats_.policy_loss += w * -surrogate;
    stats_.tokens += 1;
    if (a < 0 && r < 1.0 - cfg_.epsilon_low) stats_.clipped_low += 1;
    if (a > 0 && r > 1.0 + cfg_.epsilon_high) stats_.clipped_high += 1;
    if (entropy) stats_.entropy += entropy[i];
  }
  return loss;
}

}  // namespace r1
