#pragma once
// x[t] = float(table[ids[t]]): the residual stream starts in fp32. Where `history` is given, each id is also
// recorded at history[row_seq[t] * history_stride + positions[t]] (the sequence's token record on the
// device, which the repetition penalty reads).
#include "cuda_common.h"

namespace r1::cuda {

struct EmbeddingArgs {
  float* x = nullptr;
  const int32_t* ids = nullptr;
  const bf16* table = nullptr;
  int64_t T = 0, dim = 0;
  int32_t* history = nullptr;
  int64_t history_stride = 0;
  const int32_t* row_seq = nullptr;
  const int32_t* positions = nullptr;
};

void embedding_forward(const EmbeddingArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
