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

// Tokens routed to each expert since the runtime was created or last reset, over every forward pass;
// dense layers (below first_k_dense_replace) stay zero.
struct ExpertLoad {
  int64_t layers = 0;
  int64_t experts = 0;
  std::vector<int64_t> tokens;  // [layer][expert]

  int64_t at(int64_t layer, int64_t expert) const {
    return tokens[static_cast<size_t>(layer * experts + expert)];
  }
};

// The expert load of a DeepSeek CPU runtime; null for every other runtime.
const ExpertLoad* expert_load(const Runtime& runtime);
void reset_expert_load(Runtime& runtime);

}  // namespace r1
