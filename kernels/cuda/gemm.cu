#include <sstream>

#include "gemm.h"

namespace r1::cuda {

void throw_cublas(cublasStatus_t status, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "cuBLAS error " << int(status) << " (" << cublasGetStatusName(status) << ") in " << expr << " at "
     << file << ":" << line;
  throw CudaError(os.str(),
                  status == CUBLAS_STATUS_ALLOC_FAILED ? int(cudaErrorMemoryAllocation) : -int(status));
}

Blas::Blas() {
  R1_CUBLAS_CHECK(cublasCreate(&handle_));
  workspace_.allocate(size_t(32) << 20);
  R1_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.get(), workspace_.bytes()));
  R1_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
}

Blas::~Blas() {
  if (handle_) cublasDestroy(handle_);
}

void Blas::set_stream(cudaStream_t stream) {
  R1_CUBLAS_CHECK(cublasSetStream(handle_, stream));
}

void Blas::run(const LtShape& s, const bf16* a, const bf16* b, void* c) {
  const float one = 1.0f, zero = 0.0f;
  R1_CUBLAS_CHECK(cublasGemmEx(handle_, s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, s.tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                               int(s.m), int(s.n), int(s.k), &one, a, CUDA_R_16BF, int(s.lda), b, CUDA_R_16BF,
                               int(s.ldb), s.accumulate ? &one : &zero, c, s.ctype, int(s.ldc),
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void gemm(Blas& blas, void* y, GemmOutput out, const bf16* x, const bf16* w, int64_t T, int64_t K, int64_t N,
          int64_t ldy) {
  if (T <= 0 || N <= 0) return;
  // Column-major view: Y^T [N, T] = W [N, K] (stored as K x N, transposed) times X^T [K, T].
  LtShape s;
  s.ta = true, s.tb = false, s.m = N, s.n = T, s.k = K, s.lda = K, s.ldb = K, s.ldc = ldy ? ldy : N;
  s.ctype = out == GemmOutput::Bf16 ? CUDA_R_16BF : CUDA_R_32F;
  s.accumulate = out == GemmOutput::F32Accumulate;
  blas.run(s, w, x, y);
}

// cuBLAS is column-major: it computes C^T = op(B)^T op(A)^T.
void gemm_strided_batched(Blas& blas, int64_t M, int64_t N, int64_t K, float alpha, const StridedOperand& a,
                          const StridedOperand& b, void* c, cudaDataType_t ctype, int64_t ldc,
                          int64_t stride_c, int64_t batch) {
  const float beta = 0.0f;
  R1_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      blas.handle(), b.trans ? CUBLAS_OP_T : CUBLAS_OP_N, a.trans ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
      int(K), &alpha, b.p, b.type, int(b.ld), b.stride, a.p, a.type, int(a.ld), a.stride, &beta, c, ctype,
      int(ldc), stride_c, int(batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace r1::cuda
