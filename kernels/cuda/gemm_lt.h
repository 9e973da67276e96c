#pragma once
// bf16 GEMMs through cuBLASLt, for measuring how far cuBLAS's default choice is from the fastest algorithm
// it offers (r1wb bench ops, the trainer's GEMMs): cuBLASLt's heuristic proposes a ranked list of
// algorithms for a shape, and tune() runs the first few on real operands and keeps the fastest. A plan
// (descriptors and algorithm) is built once per shape and reused. The step itself keeps cublasGemmEx: in
// whole training steps the tuned choice measured no faster (docs/PERF.md).
#include <cublasLt.h>

#include <memory>
#include <vector>

#include "cuda_common.h"

namespace r1::cuda {

// C[m, n] (=|+=) op(A)[m, k] · op(B)[k, n] in cuBLAS's column-major terms; A and B bf16, fp32 accumulation.
struct LtShape {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  cudaDataType_t ctype = CUDA_R_16BF;
  bool accumulate = false;  // beta = 1

  bool operator==(const LtShape& o) const {
    return ta == o.ta && tb == o.tb && m == o.m && n == o.n && k == o.k && lda == o.lda && ldb == o.ldb &&
           ldc == o.ldc && ctype == o.ctype && accumulate == o.accumulate;
  }
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

class LtGemm {
 public:
  explicit LtGemm(size_t workspace_bytes = size_t(32) << 20);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // The plan's algorithm: the tuned one once tune() ran for the shape, else the heuristic's first.
  void run(const LtShape& s, const bf16* a, const bf16* b, void* c, cudaStream_t stream);
  int candidates(const LtShape& s);
  // Times up to `max_candidates` algorithms (the fastest of `repeats` interleaved rounds each) and keeps
  // the fastest for the shape. C is written by every run: with accumulate set it must be scratch the caller
  // may spoil. Returns the chosen candidate's index.
  int tune(const LtShape& s, const bf16* a, const bf16* b, void* c, cudaStream_t stream,
           int max_candidates = 16, int repeats = 4);

 private:
  struct Plan;
  Plan& plan(const LtShape& s);
  void launch(const Plan& p, const cublasLtMatmulAlgo_t& algo, const bf16* a, const bf16* b, void* c,
              cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::vector<std::unique_ptr<Plan>> plans_;
};

}  // namespace r1::cuda
