#include "cuda_ops.h"
#include "engine/core/error.h"
#include "engine/train/transformer_trainer.h"

namespace r1 {

CudaOps::CudaOps() {
  if (cuda::device_count() == 0) fail("no CUDA device found; train with --device cpu");
  R1_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  blas_ = std::make_unique<cuda::Blas>();
  blas_->set_stream(stream_);
  norm_acc_.allocate(sizeof(double));
}

CudaOps::~CudaOps() {
  if (stream_) cudaStreamSynchronize(stream_);
  blocks_.clear();
  blas_.reset();
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaOps::reserve(const TrainMemoryPlan& plan) {
  const cuda::DeviceInfo info = cuda::device_info();
  // Leave room for cuBLAS workspaces and the CUDA context's own allocations.
  const double headroom = 512.0 * 1024 * 1024;
  if (double(plan.total_bytes()) + headroom > double(info.free_memory))
    throw OutOfMemoryError(cat("training needs ", double(plan.total_bytes()) / (1 << 30), " GiB but ",
                               info.name, " has ", double(info.free_memory) / (1 << 30), " GiB free: ",
                               plan.describe(), " (try a smaller --batch or --seq, or --recompute)"));
}

void* CudaOps::alloc(size_t bytes) {
  blocks_.emplace_back(bytes);
  R1_CUDA_CHECK(cudaMemsetAsync(blocks_.back().get(), 0, bytes, stream_));
  return blocks_.back().get();
}

void CudaOps::upload(void* dst, const void* src, size_t bytes) const {
  R1_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
}

void CudaOps::download(void* dst, const void* src, size_t bytes) const {
  R1_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaOps::copy(void* dst, const void* src, size_t bytes) const {
  R1_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaOps::zero(void* dst, size_t bytes) const {
  R1_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
}

void CudaOps::sync() const {
  R1_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaOps::embedding_forward(float* x, const int32_t* ids, const bf16* table, int64_t T, int64_t C) {
  cuda::EmbeddingArgs a;
  a.x = x, a.ids = ids, a.table = table, a.T = T, a.dim = C;
  cuda::embedding_forward(a, stream_);
}

double CudaOps::sum_squares(const float* x, int64_t n) const {
  R1_CUDA_CHECK(cudaMemsetAsync(norm_acc_.get(), 0, sizeof(double), stream_));
  cuda::sum_squares_accumulate(norm_acc_.as<double>(), x, n, stream_);
  double out = 0;
  download(&out, norm_acc_.get(), sizeof(double));
  return out;
}

std::unique_ptr<Trainer> make_cuda_trainer(const Model& model, const TrainerOptions& options) {
  return std::make_unique<TransformerTrainer<CudaOps>>(model, options);
}

}  // namespace r1
