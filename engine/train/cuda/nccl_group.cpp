#include "nccl_group.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "engine/core/error.h"
#include "engine/train/team.h"
#include "kernels/cuda/cuda_common.h"

#if __has_include(<nccl.h>)
#include <nccl.h>

namespace r1 {
namespace {

// The entry points used, resolved from the shared library once.
struct Nccl {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclCommInitAll) comm_init_all = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclCommGetAsyncError) async_error = nullptr;
};

const Nccl& nccl() {
  static std::once_flag once;
  static Nccl api;
  static std::string error;
  std::call_once(once, [] {
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      error = cat("training on several GPUs needs NCCL (libnccl.so.2), which could not be loaded",
                  why ? cat(": ", why) : std::string(),
                  "; install NCCL (it ships with the CUDA toolkit) or add its folder to LD_LIBRARY_PATH");
      return;
    }
    const auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && error.empty()) error = cat("the NCCL library found lacks ", name, " (too old?)");
    };
    get(api.get_version, "ncclGetVersion");
    get(api.comm_init_all, "ncclCommInitAll");
    get(api.comm_destroy, "ncclCommDestroy");
    get(api.comm_abort, "ncclCommAbort");
    get(api.all_reduce, "ncclAllReduce");
    get(api.error_string, "ncclGetErrorString");
    get(api.async_error, "ncclCommGetAsyncError");
  });
  if (!error.empty()) fail(error);
  return api;
}

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL ", what, " failed: ", nccl().error_string(r));
}

class NcclGradientSync final : public GradientSync {
 public:
  NcclGradientSync(ncclComm_t& comm, Team& team, int rank) : comm_(comm), team_(team), rank_(rank) {
    R1_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    R1_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  ~NcclGradientSync() override {
    // After a failure sums may be in flight that no peer will join: abort instead of waiting for them.
    if (comm_ && team_.aborted()) {
      nccl().comm_abort(comm_);
      comm_ = nullptr;
    }
    for (cudaEvent_t e : ready_) cudaEventDestroy(e);
    cudaEventDestroy(done_);
    cudaStreamDestroy(comm_stream_);
  }
  void attach(float* grads, std::vector<GradBucket> buckets, void* stream) override {
    grads_ = grads;
    buckets_ = std::move(buckets);
    compute_ = static_cast<cudaStream_t>(stream);
    for (cudaEvent_t e : ready_) cudaEventDestroy(e);
    ready_.assign(buckets_.size(), nullptr);
    for (cudaEvent_t& e : ready_) R1_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  void bucket_ready(size_t index) override {
    if (index >= buckets_.size()) fail("gradient bucket ", index, " of ", buckets_.size());
    // Buckets go out in order: one reported early is preceded by every one before it.
    while (next_ <= index) issue(next_++);
  }
  void finish() override {
    armed_ = false;
    while (next_ < buckets_.size()) issue(next_++);
    next_ = 0;
    R1_CUDA_CHECK(cudaEventRecord(done_, comm_stream_));
    // Wait on the host, watching the team: a rank that failed will never join the sums in flight.
    for (;;) {
      const cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) R1_CUDA_CHECK(q);
      ncclResult_t async = ncclSuccess;
      nccl().async_error(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        team_.abort(rank_, cat("NCCL: ", nccl().error_string(async)));
        nccl().comm_abort(comm_);
        comm_ = nullptr;
        throw TeamAborted(cat("rank ", rank_, ": NCCL all-reduce failed: ", nccl().error_string(async)));
      }
      if (team_.aborted()) {
        nccl().comm_abort(comm_);  // ends this rank's sums that wait for the failed rank
        comm_ = nullptr;
        team_.barrier(rank_);  // throws TeamAborted with the failing rank's reason
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    R1_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
  }

 private:
  void issue(size_t i) {
    if (!comm_) fail("rank ", rank_, ": the NCCL communicator was aborted");
    const GradBucket& b = buckets_[i];
    if (b.count == 0) return;
    R1_CUDA_CHECK(cudaEventRecord(ready_[i], compute_));
    R1_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_[i], 0));
    check(nccl().all_reduce(grads_ + b.offset, grads_ + b.offset, size_t(b.count), ncclFloat, ncclSum, comm_,
                            comm_stream_),
          "all-reduce of the gradients");
  }

  ncclComm_t& comm_;  // the group's slot for this rank: nulled when aborted (NCCL frees it then)
  Team& team_;
  const int rank_;
  cudaStream_t comm_stream_ = nullptr, compute_ = nullptr;
  cudaEvent_t done_ = nullptr;
  std::vector<cudaEvent_t> ready_;
  size_t next_ = 0;
  float* grads_ = nullptr;
  std::vector<GradBucket> buckets_;
};

}  // namespace

struct NcclGroup::Impl {
  std::vector<ncclComm_t> comms;
  std::vector<bool> handed_out;
};

NcclGroup::NcclGroup(int gpus) : impl_(std::make_unique<Impl>()) {
  const Nccl& api = nccl();
  const int have = cuda::device_count();
  if (gpus < 1 || gpus > have) fail("asked for ", gpus, " GPUs but ", have, " CUDA devices are present");
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  std::vector<int> devices(static_cast<size_t>(gpus));
  std::iota(devices.begin(), devices.end(), 0);
  impl_->comms.assign(size_t(gpus), nullptr);
  check(api.comm_init_all(impl_->comms.data(), gpus, devices.data()), "communicator set-up");
  impl_->handed_out.assign(size_t(gpus), false);
}

NcclGroup::~NcclGroup() {
  // A communicator its rank aborted was freed by NCCL then, and its slot nulled.
  for (ncclComm_t c : impl_->comms)
    if (c) nccl().comm_destroy(c);
}

int NcclGroup::size() const {
  return int(impl_->comms.size());
}

std::unique_ptr<GradientSync> NcclGroup::gradient_sync(int rank, Team& team) {
  if (rank < 0 || rank >= size() || impl_->handed_out[size_t(rank)])
    fail("NCCL rank ", rank, " is outside the group of ", size(), " or already in use");
  impl_->handed_out[size_t(rank)] = true;
  return std::make_unique<NcclGradientSync>(impl_->comms[size_t(rank)], team, rank);
}

int NcclGroup::version() {
  int v = 0;
  check(nccl().get_version(&v), "version query");
  return v;
}

}  // namespace r1

#else  // built without NCCL's header: several GPUs are refused with the reason

namespace r1 {

struct NcclGroup::Impl {};

NcclGroup::NcclGroup(int) {
  fail("training on several GPUs needs NCCL, and this build found no nccl.h; install NCCL's development files "
       "(libnccl-dev) and rebuild");
}
NcclGroup::~NcclGroup() = default;
int NcclGroup::size() const {
  return 0;
}
std::unique_ptr<GradientSync> NcclGroup::gradient_sync(int, Team&) {
  fail("NCCL is not available in this build");
}
int NcclGroup::version() {
  fail("NCCL is not available in this build");
}

}  // namespace r1

#endif
