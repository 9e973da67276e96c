#pragma once
// Row-major Y[T, N] (=|+=) X[T, K] · W[N, K]^T through cuBLAS: bf16 inputs, fp32 accumulation, bf16 or fp32
// output. Adding into an fp32 output (beta = 1) fuses the residual add into the projection.
#include <cublas_v2.h>

#include "cuda_common.h"

namespace r1::cuda {

class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;

  void set_stream(cudaStream_t stream);
  cublasHandle_t handle() const { return handle_; }

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

}  // namespace r1::cuda
