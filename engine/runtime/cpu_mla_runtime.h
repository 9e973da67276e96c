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

}  // namespace r1
