#pragma once
// CUDA backend for DeepSeek-V2/V3: Multi-head Latent Attention over a paged latent cache, and a mixture of
// experts.
#include <memory>

#include "runtime.h"

namespace r1 {

std::unique_ptr<Runtime> create_cuda_mla_runtime(std::shared_ptr<const Model> model,
                                                 const RuntimeOptions& options);

}  // namespace r1
