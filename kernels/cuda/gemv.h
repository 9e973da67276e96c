#pragma once
// Matrix-vector products for decode: y[b, r] = sum_k W[r, k] * x[b, k] for a handful of vectors (b <= 8),
// bf16 weights streamed once with 16-byte loads, fp32 accumulation. The input can be produced on the fly
// (RMSNorm of the fp32 residual, or SwiGLU of a fused gate/up output), and the output can be added into
// the fp32 residual or be the SwiGLU of a gate row and its up row, so a decoder layer needs no separate
// norm, activation or residual-add kernels.
#include "arg_best.h"
#include "cuda_common.h"

namespace r1::cuda {

constexpr int kGemvMaxBatch = 8;

enum class GemvInput {
  Bf16,        // x: bf16 [B, K]
  RmsNormF32,  // x: fp32 [B, K], RMSNorm with norm_w and eps: x * norm_w is rounded to bf16 and each row sum
               // is scaled by rsqrt(mean(x^2) + eps) (so the input is read once)
  SwiGluBf16,  // x: bf16 [B, 2K] (gate | up), silu(gate) * up first
};

enum class GemvOutput {
  Bf16,           // y: bf16 [B, ldy]
  F32,            // y: fp32 [B, ldy]
  F32Accumulate,  // y: fp32 [B, ldy], y += W x
  SwiGluBf16,  // W holds gate rows then up rows (n = 2m): y: bf16 [B, ldy], y[r] = silu(gate_r x) * (up_r x)
};

struct GemvArgs {
  const bf16* w = nullptr;  // [n, k] row-major
  int64_t n = 0, k = 0;
  const void* x = nullptr;
  int64_t batch = 1;
  GemvInput input = GemvInput::Bf16;
  const bf16* norm_w = nullptr;  // [k], RmsNormF32
  float eps = 1e-6f;
  const bf16* bias = nullptr;  // [n] or null
  void* y = nullptr;
  GemvOutput output = GemvOutput::Bf16;
  int64_t ldy = 0;  // 0: n (n / 2 for SwiGluBf16 output)
  // F32 output of one vector: each block also stores its highest output and its row (the lowest row on a
  // tie) in best[block], gemv_blocks(a) entries, so that a greedy pick need not read every output again.
  ArgBest* best = nullptr;
  // The kernels after this one may start only once it has waited for the one before it, not at its own
  // start: set on the kernel after the runtime step's embedding, whose input copy the kernels after that
  // read before their waits (see embedding.h).
  bool dependents_after_wait = false;
};

// Throws std::invalid_argument when k is not a multiple of 8 or batch is outside [1, kGemvMaxBatch].
void gemv(const GemvArgs& a, cudaStream_t stream);
bool gemv_supports(int64_t batch, int64_t k);
int64_t gemv_blocks(const GemvArgs& a);  // the blocks gemv(a) launches (one vector only)

}  // namespace r1::cuda
