#pragma once
// CPU backend for DeepSeek-V2/V3: Multi-head Latent Attention over a latent KV cache, and a mixture of
// experts.
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime.h"

namespace r1 {

std::unique_ptr<Runtime> create_cpu_mla_runtime(std::shared_ptr<const Model> model,
                                                const RuntimeOptions& options);

// The expert load of a DeepSeek runtime (CPU or CUDA); null for every other runtime.
inline const ExpertLoad* expert_load(const Runtime& runtime) {
  return runtime.expert_load();
}
inline void reset_expert_load(Runtime& runtime) {
  runtime.reset_expert_load();
}

}  // namespace r1
