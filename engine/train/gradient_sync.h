#pragma once
// Data parallelism's one collective: after the last backward pass of an optimizer step, every rank's
// gradient block holds the sum over the ranks. The block is cut into buckets in the order the backward
// pass finishes them (the final norm and an untied LM head, then the decoder layers last to first, then the
// embedding), so a bucket can be summed while the layers below it are still being differentiated.
//
// Every rank issues the buckets in that same order, those it did not report during backward at finish(),
// so the ranks' collectives always pair up, even when a rank had no rows to train on.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "param_layout.h"

namespace r1 {

class Team;

struct GradBucket {
  int64_t offset = 0, count = 0;  // elements of the gradient block
};

// The buckets of a layout in the order above; together they cover the block exactly once.
std::vector<GradBucket> gradient_buckets(const ParamLayout& layout);

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // The trainer's gradient block, its buckets and (CUDA) the stream its backward pass runs on.
  virtual void attach(float* grads, std::vector<GradBucket> buckets, void* stream) = 0;
  // The next backward pass is the step's last: the trainer reports its buckets as they complete.
  void reduce_in_next_backward() { armed_ = true; }
  bool armed() const { return armed_; }
  virtual void bucket_ready(size_t index) = 0;
  // Sums every bucket not reported yet and returns once the whole block holds the sum over the ranks.
  virtual void finish() = 0;

 protected:
  bool armed_ = false;
};

// Ranks whose gradients live in this process's memory (CPU trainers, one thread each): each rank sums its
// own slice of the block across the ranks, in rank order, and writes it into every rank's block.
std::unique_ptr<GradientSync> make_host_gradient_sync(Team& team, int rank);

}  // namespace r1
