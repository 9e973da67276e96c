#pragma once
// x[t] = float(table[ids[t]]): the residual stream starts in fp32. Where `history` is given, each id is also
// recorded at history[row_seq[t] * history_stride + positions[t]] (the sequence's token record on the
// device, which the repetition penalty reads).
//
// As the first kernel of a runtime step (copy_src set), the launch also copies the step's inputs from pinned
// host memory (copy_src, its device address; see host_device_pointer) into copy_dst: the ranges of words in
// `copy`, at most 256 words a row. ids, row_seq and positions then point into that pinned memory, so the
// rows are embedded in the same round trip over the bus as the copy rather than after a separate copy
// kernel. The launch lets the kernel after it start at once (to request its weights), and stores the copy
// after it waits for the kernel before it. So the kernel after it must let its own dependents start only
// after its wait (GemvArgs::dependents_after_wait) when a later kernel reads copy_dst before its wait (the
// decode attention reads the step's positions and slots).
//
// ids_after_wait (with copy_src): the ids are the output of the kernel before (the sampler of the step
// before, when steps are chained on the device), so they and their rows are read after the wait.
#include "cuda_common.h"
#include "host_copy.h"

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
  const int32_t* copy_src = nullptr;
  int32_t* copy_dst = nullptr;
  HostCopyRanges copy;
  bool ids_after_wait = false;
};

// Throws std::invalid_argument for a negative range, or more words to copy than 256 a row.
void embedding_forward(const EmbeddingArgs& a, cudaStream_t stream);

}  // namespace r1::cuda
