#include "data_parallel.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "engine/core/error.h"

#ifdef R1WB_HAVE_CUDA
#include <cuda_runtime.h>

#include "engine/train/cuda/nccl_group.h"
#include "kernels/cuda/cuda_common.h"
#endif

namespace r1 {

bool RankContext::any(bool flag) const {
  for (bool f : all_gather(flag))
    if (f) return true;
  return false;
}

void run_ranks(int ranks, TrainDevice device, const std::function<void(RankContext&)>& body) {
  if (ranks < 1) fail("the number of ranks (--gpus) must be at least 1 (got ", ranks, ")");
  if (ranks == 1) {
    RankContext ctx;
    body(ctx);
    return;
  }
  Team team(ranks);
#ifdef R1WB_HAVE_CUDA
  std::unique_ptr<NcclGroup> nccl;
  if (device == TrainDevice::Cuda) {
    const int have = cuda::device_count();
    if (have < ranks) fail("--gpus ", ranks, " needs ", ranks, " CUDA devices; ", have, " found");
    nccl = std::make_unique<NcclGroup>(ranks);
  }
#else
  if (device == TrainDevice::Cuda) fail("this build has no CUDA support; train with --device cpu");
#endif
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  std::vector<char> aborted(static_cast<size_t>(ranks), 0);  // not vector<bool>: ranks write their own
  const auto rank_main = [&](int r) {
    // Outlives the handlers below, so a failed rank's communicator is torn down after the team knows.
    std::unique_ptr<GradientSync> sync;
    try {
      RankContext ctx;
      ctx.rank = r, ctx.ranks = ranks, ctx.team = &team;
#ifdef R1WB_HAVE_CUDA
      if (nccl) {
        R1_CUDA_CHECK(cudaSetDevice(r));
        sync = nccl->gradient_sync(r, team);
      }
#endif
      if (!sync) sync = make_host_gradient_sync(team, r);
      ctx.sync = sync.get();
      body(ctx);
    } catch (const TeamAborted&) {
      errors[size_t(r)] = std::current_exception();
      aborted[size_t(r)] = 1;
    } catch (const std::exception& e) {
      errors[size_t(r)] = std::current_exception();
      team.abort(r, e.what());
    } catch (...) {
      errors[size_t(r)] = std::current_exception();
      team.abort(r, "unknown exception");
    }
  };
  // Rank 0 runs on the calling thread, which owns what the caller handed in (the run store's connection,
  // the callbacks' objects); the others get threads of their own.
  std::vector<std::thread> threads;
  for (int r = 1; r < ranks; ++r) threads.emplace_back(rank_main, r);
  rank_main(0);
  for (std::thread& t : threads) t.join();
  // The root cause: the first rank that failed by itself, not one stopped because of it.
  for (int r = 0; r < ranks; ++r) {
    if (!errors[size_t(r)] || aborted[size_t(r)]) continue;
    try {
      std::rethrow_exception(errors[size_t(r)]);
    } catch (const OutOfMemoryError& e) {
      throw OutOfMemoryError(cat("rank ", r, ": ", e.what()));
    } catch (const std::exception& e) {
      throw Error(cat("rank ", r, ": ", e.what()));
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void rank_fault_point(const RankContext& ctx, int64_t step) {
  const char* spec = std::getenv("R1WB_RANK_FAULT");
  if (!spec || !*spec) return;
  int rank = -1;
  long long at = -1;
  if (std::sscanf(spec, "%d:%lld", &rank, &at) != 2)
    fail("R1WB_RANK_FAULT must be RANK:STEP (got '", spec, "')");
  if (rank == ctx.rank && at == step) fail("injected failure of rank ", rank, " at step ", step);
}

}  // namespace r1
