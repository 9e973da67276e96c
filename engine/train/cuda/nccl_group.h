#pragma once
// NCCL for the data-parallel ranks of one host: a communicator per GPU, made together (ncclCommInitAll),
// and the gradient sum of each rank's trainer on a stream of its own, so buckets are summed while the
// backward pass goes on. NCCL is loaded when a run first asks for several GPUs (libnccl.so.2), so a one-GPU
// workbench does not need it installed.
#include <memory>

#include "engine/train/gradient_sync.h"

namespace r1 {

class Team;

class NcclGroup {
 public:
  explicit NcclGroup(int gpus);  // GPUs 0 .. gpus-1; NVLink multicast (NVLS) off unless the user set it
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;
  int size() const;
  // Rank `rank`'s sync; call on that rank's thread with its GPU current. When the team is aborted while a
  // sum is in flight, finish() aborts this rank's communicator and throws TeamAborted.
  std::unique_ptr<GradientSync> gradient_sync(int rank, Team& team);
  static int version();  // e.g. 22809; throws when NCCL cannot be loaded

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1
