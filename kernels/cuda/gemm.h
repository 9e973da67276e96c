#pragma once
// Row-major Y[T, N] (=|+=) X[T, K] · W[N, K]^T through cuBLAS: bf16 inputs, fp32 accumulation, bf16 or fp32
// output. Adding into an fp32 output (beta = 1) fuses the residual add into the projection.
#include <cublas_v2.h>

#include "cuda_common.h"
#include "gemm_lt.h"

namespace r1::cuda {

class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  void set_stream(cudaStream_t stream);
  cublasHandle_t handle() const { return handle_; }

  // C (=|+=) op(A) op(B) as described by s (column-major, kernels/cuda/gemm_lt.h), on the stream last set.
  void run(const LtShape& s, const bf16* a, const bf16* b, void* c);

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;  // fixed, so the GEMMs can be captured in a CUDA graph
};

[[noreturn]] void throw_cublas(cublasStatus_t status, const char* expr, const char* file, int line);
#define R1_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                              \
    const cublasStatus_t r1_st = (expr);                                                            \
    if (r1_st != CUBLAS_STATUS_SUCCESS) ::r1::cuda::throw_cublas(r1_st, #expr, __FILE__, __LINE__); \
  } while (0)

enum class GemmOutput { Bf16, F32, F32Accumulate };

void gemm(Blas& blas, void* y, GemmOutput out, const bf16* x, const bf16* w, int64_t T, int64_t K, int64_t N,
          int64_t ldy = 0);

// One operand of a strided-batched row-major GEMM: ld = elements between rows, stride = elements between
// the matrices of consecutive batch entries (0: every entry uses the same matrix).
struct StridedOperand {
  const void* p;
  cudaDataType_t type;
  int64_t ld, stride;
  bool trans;
};

// Row-major C[M, N] = alpha op(A) op(B) over `batch` matrices at constant element strides, fp32 compute;
// A is [M, K] (or [K, M] when trans), B is [K, N] (or [N, K] when trans).
void gemm_strided_batched(Blas& blas, int64_t M, int64_t N, int64_t K, float alpha, const StridedOperand& a,
                          const StridedOperand& b, void* c, cudaDataType_t ctype, int64_t ldc,
                          int64_t stride_c, int64_t batch);

}  // namespace r1::cuda
