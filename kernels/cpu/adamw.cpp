#include "adamw.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace r1::cpu {
namespace {

// sum_squares splits into this many fixed ranges whatever the thread count, so the result is reproducible.
constexpr int64_t kSumBlocks = 64;
constexpr int64_t kParallelSum = 1 << 16;  // below this many elements one thread is faster

}  // namespace

// Follows torch.optim.AdamW's single-tensor path step for step, scalars included: the coefficients are
// formed in double, as Python does, and rounded to fp32 where PyTorch hands them to a float kernel.
void adamw_update(float* w, float* m, float* v, const float* grad, int64_t n, const AdamWStep& s,
                  bool decay) {
  if (n < 0 || s.t < 1)
    throw std::invalid_argument("adamw_update: need n >= 0 and step t >= 1, got n=" + std::to_string(n) +
                                " t=" + std::to_string(s.t));
  const double lr = s.lr, b1 = s.beta1, b2 = s.beta2;
  const float keep = decay ? float(1.0 - lr * double(s.weight_decay)) : 1.0f;
  const float m_weight = float(1.0 - b1);  // exp_avg.lerp_(grad, 1 - beta1)
  const float beta2 = s.beta2, v_weight = float(1.0 - b2);
  const double correction1 = 1.0 - std::pow(b1, double(s.t)), correction2 = 1.0 - std::pow(b2, double(s.t));
  const float neg_step = float(-(lr / correction1));
  const float correction2_sqrt = float(std::sqrt(correction2));
  const float eps = s.eps, scale = s.grad_scale;
  parallel_for(
      n,
      [&](int64_t a, int64_t e) {
        for (int64_t i = a; i < e; ++i) {
          const float g = grad[i] * scale;
          if (decay) w[i] *= keep;
          m[i] = m[i] + m_weight * (g - m[i]);
          v[i] = v[i] * beta2 + v_weight * g * g;
          const float denom = std::sqrt(v[i]) / correction2_sqrt + eps;
          w[i] = w[i] + neg_step * m[i] / denom;
        }
      },
      4096);
}

double sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  double partial[kSumBlocks];
  parallel_for(
      kSumBlocks,
      [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
          double acc = 0;
          for (int64_t i = n * blk / kSumBlocks; i < n * (blk + 1) / kSumBlocks; ++i)
            acc += double(x[i]) * x[i];
          partial[blk] = acc;
        }
      },
      n < kParallelSum ? kSumBlocks : 1);
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace r1::cpu
