#pragma once
// Data-parallel runs on the GPUs of one host (or, for tests and small machines, on CPU trainers): one
// thread per rank, each with its own replica of the model, its share of the batch and its GPU current.
// Gradients are summed by a GradientSync (NCCL between GPUs, in-process between CPU ranks); everything
// else the ranks share (rollouts, metrics, the decision to stop) goes through the Team.
#include <functional>
#include <utility>
#include <vector>

#include "gradient_sync.h"
#include "team.h"
#include "trainer.h"

namespace r1 {

struct RankContext {
  int rank = 0, ranks = 1;
  Team* team = nullptr;
  GradientSync* sync = nullptr;  // null when the run has one rank

  bool leader() const { return rank == 0; }
  template <class T>
  std::vector<T> all_gather(T value) const {
    if (ranks == 1) return {std::move(value)};
    return team->all_gather(rank, std::move(value));
  }
  // True on every rank when any rank's flag is true (the ranks agree to stop together).
  bool any(bool flag) const;
  // [begin, end) of this rank's share of n items; n must split evenly.
  std::pair<int64_t, int64_t> share(int64_t n) const { return {n * rank / ranks, n * (rank + 1) / ranks}; }
};

// Runs body(ctx) for ranks 0 .. ranks-1 and returns when all have returned. With one rank it runs on the
// calling thread; otherwise rank 0 runs on the calling thread and every other rank on a thread of its own,
// on CUDA with GPU r current on rank r's thread and the gradient sync through NCCL. When a rank throws, the
// others are stopped at their next exchange (or their gradient sum in flight) and the first failure is
// rethrown with its rank named.
void run_ranks(int ranks, TrainDevice device, const std::function<void(RankContext&)>& body);

// Tests of rank failure: R1WB_RANK_FAULT=R:S makes rank R throw when it reaches step S. Does nothing when
// the variable is unset.
void rank_fault_point(const RankContext& ctx, int64_t step);

}  // namespace r1
