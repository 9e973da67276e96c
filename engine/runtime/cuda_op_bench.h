#pragma once
// Per-op timings of the CUDA kernels at a model's decode and prefill shapes (the "perf mode" of each op):
// median time over repeats measured with CUDA events, bytes moved and FLOPs, and the fraction of the
// measured copy bandwidth or of the bf16 matrix peak each reaches. With train_batch and train_seq, also the
// trainer's causal attention (flash and unfused, forward and backward) at that shape.
#include <nlohmann/json.hpp>

#include "engine/model/config.h"

namespace r1 {

nlohmann::ordered_json bench_cuda_ops(const ModelConfig& c, const std::vector<int64_t>& batches,
                                      int64_t prefill_tokens, int64_t context, int64_t train_batch = 0,
                                      int64_t train_seq = 0);

}  // namespace r1
