#pragma once
#include <memory>

#include "runtime.h"

namespace r1 {

std::unique_ptr<Runtime> create_cpu_runtime(std::shared_ptr<const Model> model,
                                            const RuntimeOptions& options);

}  // namespace r1
