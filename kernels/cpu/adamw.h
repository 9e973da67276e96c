#pragma once
// Fused AdamW (decoupled weight decay, Loshchilov & Hutter; PyTorch's torch.optim.AdamW update order):
//   g = grad * grad_scale                    (grad_scale folds in global-norm clipping)
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
//   w = w - lr * wd * w                       (only where `decay`)
//   w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// fp32 master weights and moments.
#include <cstdint>

namespace r1::cpu {

struct AdamWStep {
  float lr = 0, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0;
  int64_t t = 1;  // 1-based step count, for bias correction
  float grad_scale = 1.0f;
};

// A run of a parameter block with one decay setting: elements [offset, offset + count).
struct AdamWSegment {
  int64_t offset = 0, count = 0;
  bool decay = false;
};

void adamw_update(float* w, float* m, float* v, const float* grad, int64_t n, const AdamWStep& s, bool decay);
// Σ x^2, accumulated in double.
double sum_squares(const float* x, int64_t n);

}  // namespace r1::cpu
