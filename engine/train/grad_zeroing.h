#pragma once
// Lazy gradient zeroing. Most of a dense model's parameters are projection weights whose gradient one
// backward writes with a single dW product (q/k/v, o, gate/up, down; MLA's a, q_b, kv_b; a MoE layer's
// router and shared experts; an untied LM head, chunk by chunk). The first backward after zero_grads()
// lets those products assign (GEMM beta 0) instead of accumulate, so zeroing between optimizer steps only
// clears the rest: norms, biases, the embedding (rows scattered by token), routed experts (an expert may get
// no tokens). On Qwen2-1.5B that leaves 0.9 of the 7.1 GB gradient block to clear each step.
#include <cstdint>
#include <vector>

#include "param_layout.h"
#include "train_buffers.h"

namespace r1 {

struct GradRange {
  int64_t offset = 0, count = 0;  // elements of the gradient block
};

class GradZeroPlan {
 public:
  GradZeroPlan() = default;
  GradZeroPlan(const ParamLayout& layout, const TrainDims& d);

  // Products that assign on a stale pass, by offset; and the ranges zero_grads() clears (the complement).
  const std::vector<GradRange>& assigned() const { return assigned_; }
  const std::vector<GradRange>& cleared() const { return cleared_; }
  // Whether [offset, offset + count) is one of assigned(); throws std::logic_error for an offset listed with
  // another count (a call site and this plan disagreeing would leave stale values in the gradient).
  bool assigns(int64_t offset, int64_t count) const;

 private:
  std::vector<GradRange> assigned_, cleared_;
};

}  // namespace r1
