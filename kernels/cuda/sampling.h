#pragma once
// Token sampling on the device, one block per row of logits: repetition penalty over the sequence's
// history (applied once per distinct id), then greedy argmax, or temperature with top-k, top-p and min-p
// thresholds found by radix selection over the float bits (counts for top-k, probability mass for top-p:
// never a sort of the vocabulary), then an exact draw from a counter-based generator keyed per row, so the
// result depends only on the logits and the key. When the tokens near the top of a row (a short list copied
// in one pass) hold all that top-k / top-p can keep, as they do for a trained model's peaked rows, the
// selection and a Gumbel-max draw run over that list alone. Otherwise (a flat row) the draw inverts the kept
// tokens' cumulative probability at one uniform number.
#include "arg_best.h"
#include "cuda_common.h"

namespace r1::cuda {

struct RowSampling {
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  int32_t top_k = 0;
  uint32_t key_lo = 0, key_hi = 0;   // random key of this draw
  const int32_t* history = nullptr;  // device ids the penalty applies to
  int32_t history_len = 0;
};

// logits: [rows, vocab] fp32, modified in place. params: [rows], read before the kernel waits for the one
// before it (launch.cuh), so no kernel may write them. tokens: [rows]. Both may be device memory or pinned
// host memory (its device address): the runtime passes the step's pinned rows, and receives the tokens
// without a copy back. bests (one row only): n_bests values whose best is the row's greedy argmax, as the
// LM head's GEMV leaves them (GemvArgs::best); a greedy row without a repetition penalty reduces those
// instead of sweeping its logits. tokens_copy: where not null, the tokens are also written there (device
// memory, for the next step's embedding when steps are chained on the device). The kernel lets the next
// kernel start at once: that kernel may read before its wait only what no kernel writes.
void sample_rows(float* logits, int64_t rows, int64_t vocab, const RowSampling* params, int32_t* tokens,
                 cudaStream_t stream, const ArgBest* bests = nullptr, int32_t n_bests = 0,
                 int32_t* tokens_copy = nullptr);

}  // namespace r1::cuda
