#include <algorithm>
#include <memory>

#include "gemm.h"
#include "gemm_lt.h"

namespace r1::cuda {
namespace {

constexpr int kMaxCandidates = 16;

}  // namespace

struct LtGemm::Plan {
  LtShape shape;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> found;
  int chosen = 0;

  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

LtGemm::LtGemm(size_t workspace_bytes) {
  R1_CUBLAS_CHECK(cublasLtCreate(&handle_));
  workspace_.allocate(workspace_bytes);
}

LtGemm::~LtGemm() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

LtGemm::Plan& LtGemm::plan(const LtShape& s) {
  for (const std::unique_ptr<Plan>& p : plans_)
    if (p->shape == s) return *p;
  if (s.m <= 0 || s.n <= 0 || s.k <= 0 || s.m > INT32_MAX || s.n > INT32_MAX || s.k > INT32_MAX)
    throw std::invalid_argument("LtGemm: dimensions must be positive and below 2^31");
  // Built aside and kept only once complete, so a failure leaves no half-made plan behind.
  auto p = std::make_unique<Plan>();
  p->shape = s;
  R1_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = s.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  R1_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  R1_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  // Layouts describe the matrices as stored (before the transposes), column-major.
  R1_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, uint64_t(s.ta ? s.k : s.m),
                                             uint64_t(s.ta ? s.m : s.k), s.lda));
  R1_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, uint64_t(s.tb ? s.n : s.k),
                                             uint64_t(s.tb ? s.k : s.n), s.ldb));
  R1_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, s.ctype, uint64_t(s.m), uint64_t(s.n), s.ldc));
  cublasLtMatmulPreference_t pref = nullptr;
  R1_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_.bytes();
  const cublasStatus_t set =
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  if (set != CUBLAS_STATUS_SUCCESS) cublasLtMatmulPreferenceDestroy(pref);
  R1_CUBLAS_CHECK(set);
  p->found.resize(kMaxCandidates);
  int returned = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, p->op, p->a, p->b, p->c, p->c, pref,
                                                           kMaxCandidates, p->found.data(), &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  R1_CUBLAS_CHECK(st);
  if (returned == 0) throw CudaError("cuBLASLt proposes no algorithm for this GEMM shape", -1);
  p->found.resize(size_t(returned));
  plans_.push_back(std::move(p));
  return *plans_.back();
}

void LtGemm::launch(const Plan& p, const cublasLtMatmulAlgo_t& algo, const bf16* a, const bf16* b, void* c,
                    cudaStream_t stream) {
  const float alpha = 1.0f, beta = p.shape.accumulate ? 1.0f : 0.0f;
  R1_CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, a, p.a, b, p.b, &beta, c, p.c, c, p.c, &algo,
                                 workspace_.get(), workspace_.bytes(), stream));
}

void LtGemm::run(const LtShape& s, const bf16* a, const bf16* b, void* c, cudaStream_t stream) {
  const Plan& p = plan(s);
  launch(p, p.found[size_t(p.chosen)].algo, a, b, c, stream);
}

int LtGemm::candidates(const LtShape& s) {
  return int(plan(s).found.size());
}

int LtGemm::tune(const LtShape& s, const bf16* a, const bf16* b, void* c, cudaStream_t stream,
                 int max_candidates, int repeats) {
  Plan& p = plan(s);
  cudaEvent_t e0, e1;
  R1_CUDA_CHECK(cudaEventCreate(&e0));
  R1_CUDA_CHECK(cudaEventCreate(&e1));
  const int n = std::min<int>(max_candidates, int(p.found.size()));
  // The fastest of `repeats` rounds per candidate, the rounds interleaved so that a change of clock speed
  // during the tuning touches every candidate alike. A candidate that fails to launch drops out.
  std::vector<float> best(size_t(n), 0.0f);
  std::vector<bool> usable(size_t(n), true);
  for (int round = 0; round <= repeats; ++round) {
    for (int i = 0; i < n; ++i) {
      if (!usable[size_t(i)]) continue;
      try {
        R1_CUDA_CHECK(cudaEventRecord(e0, stream));
        launch(p, p.found[size_t(i)].algo, a, b, c, stream);
        R1_CUDA_CHECK(cudaEventRecord(e1, stream));
        R1_CUDA_CHECK(cudaEventSynchronize(e1));
      } catch (const CudaError&) {
        usable[size_t(i)] = false;
        continue;
      }
      float t = 0;
      R1_CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
      if (round > 0 && (best[size_t(i)] == 0 || t < best[size_t(i)]))
        best[size_t(i)] = t;  // round 0 warms up
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  int chosen = 0;
  for (int i = 0; i < n; ++i)
    if (usable[size_t(i)] && best[size_t(i)] > 0 &&
        (best[size_t(chosen)] == 0 || !usable[size_t(chosen)] || best[size_t(i)] < best[size_t(chosen)]))
      chosen = i;
  p.chosen = chosen;
  return chosen;
}

}  // namespace r1::cuda
