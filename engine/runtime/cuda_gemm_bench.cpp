#include "cuda_gemm_bench.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/runtime/cuda_bench_util.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/gemm_lt.h"

namespace r1 {
namespace {

using cuda::bf16;
using cuda::DeviceBuffer;

// The fastest of 10 event-timed runs after 2 warm-ups, in microseconds.
double min_us(const std::function<void()>& op) {
  return event_time_us(op, 2, 10, true);
}

struct Case {
  std::string name;
  cuda::LtShape s;
  int per_step;
};

// The three products of a row-major projection Y[T, N] = X[T, K] W[N, K]^T, in cuBLAS's column-major terms
// (see kernels/cuda/gemm.cu and matmul.cu): forward, input gradient (bf16) and weight gradient (fp32, +=).
void add_projection(std::vector<Case>& out, const std::string& name, int64_t T, int64_t K, int64_t N,
                    cudaDataType_t fwd_type, bool fwd_accumulate, int per_step) {
  cuda::LtShape f;
  f.ta = true, f.tb = false, f.m = N, f.n = T, f.k = K, f.lda = K, f.ldb = K, f.ldc = N;
  f.ctype = fwd_type, f.accumulate = fwd_accumulate;
  out.push_back({name + " forward", f, per_step});
  cuda::LtShape dx;
  dx.ta = false, dx.tb = false, dx.m = K, dx.n = T, dx.k = N, dx.lda = K, dx.ldb = N, dx.ldc = K;
  dx.ctype = CUDA_R_16BF;
  out.push_back({name + " dx", dx, per_step});
  cuda::LtShape dw;
  dw.ta = false, dw.tb = true, dw.m = K, dw.n = N, dw.k = T, dw.lda = K, dw.ldb = N, dw.ldc = K;
  dw.ctype = CUDA_R_32F, dw.accumulate = true;
  out.push_back({name + " dW", dw, per_step});
}

}  // namespace

nlohmann::ordered_json bench_train_gemms(const ModelConfig& c, int64_t T, int64_t chunk_rows) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  const int L = int(c.num_layers);
  std::vector<Case> cases;
  add_projection(cases, "qkv", T, H, Q + 2 * KV, CUDA_R_16BF, false, L);
  add_projection(cases, "o", T, Q, H, CUDA_R_32F, true, L);
  add_projection(cases, "gate_up", T, H, 2 * I, CUDA_R_16BF, false, L);
  add_projection(cases, "down", T, I, H, CUDA_R_32F, true, L);
  const int chunks = int((T + chunk_rows - 1) / chunk_rows);
  add_projection(cases, "lm_head (chunk)", std::min(T, chunk_rows), H, V, CUDA_R_32F, false, chunks);
  int64_t max_in = 0, max_out = 0;
  for (const Case& k : cases) {
    max_in = std::max({max_in, k.s.m * k.s.k, k.s.n * k.s.k});
    max_out = std::max(max_out, k.s.m * k.s.n);
  }
  DeviceBuffer a = random_device_buffer(max_in, false, 1), b = random_device_buffer(max_in, false, 2);
  DeviceBuffer out(size_t(max_out) * 4);
  R1_CUDA_CHECK(cudaMemset(out.get(), 0, out.bytes()));
  cuda::Blas blas;
  cuda::LtGemm lt;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  double step_blas = 0, step_lt = 0, step_tuned = 0, step_flops = 0;
  for (const Case& k : cases) {
    const cuda::LtShape& s = k.s;
    const double blas_us = min_us([&] { blas.run(s, a.as<bf16>(), b.as<bf16>(), out.get()); });
    const double lt_us = min_us([&] { lt.run(s, a.as<bf16>(), b.as<bf16>(), out.get(), nullptr); });
    const int chosen = lt.tune(s, a.as<bf16>(), b.as<bf16>(), out.get(), nullptr);
    const double tuned_us = min_us([&] { lt.run(s, a.as<bf16>(), b.as<bf16>(), out.get(), nullptr); });
    const double f = s.flops();
    nlohmann::ordered_json r;
    r["gemm"] = k.name;
    r["m_n_k"] = {s.m, s.n, s.k};
    r["per_step"] = k.per_step;
    r["cublas_us"] = blas_us;
    r["lt_heuristic_us"] = lt_us;
    r["lt_tuned_us"] = tuned_us;
    r["lt_tuned_choice"] = chosen;
    r["lt_candidates"] = lt.candidates(s);
    r["cublas_peak_fraction"] = f / (blas_us * 1e-6) / (kBf16PeakTflops * 1e12);
    r["tuned_peak_fraction"] = f / (tuned_us * 1e-6) / (kBf16PeakTflops * 1e12);
    rows.push_back(r);
    step_blas += blas_us * k.per_step, step_lt += lt_us * k.per_step, step_tuned += tuned_us * k.per_step;
    step_flops += f * k.per_step;
  }
  nlohmann::ordered_json res;
  res["tokens"] = T;
  res["lm_head_chunk_rows"] = chunk_rows;
  res["gemms"] = rows;
  res["step_ms"] = {
      {"cublas", step_blas / 1e3}, {"lt_heuristic", step_lt / 1e3}, {"lt_tuned", step_tuned / 1e3}};
  res["step_peak_fraction"] = {{"cublas", step_flops / (step_blas * 1e-6) / (kBf16PeakTflops * 1e12)},
                               {"lt_tuned", step_flops / (step_tuned * 1e-6) / (kBf16PeakTflops * 1e12)}};
  return res;
}

}  // namespace r1
