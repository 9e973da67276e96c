#pragma once
// The trainer's GEMMs at a model's shape for T tokens (every projection's forward, input gradient and weight
// gradient, and the LM head chunk by chunk), each timed through cublasGemmEx, through cuBLASLt's first
// heuristic choice and through the fastest of its candidates (LtGemm::tune), with the totals of one step.
#include <nlohmann/json.hpp>

#include "engine/model/config.h"

namespace r1 {

nlohmann::ordered_json bench_train_gemms(const ModelConfig& c, int64_t T, int64_t chunk_rows);

}  // namespace r1
