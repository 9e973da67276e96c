#pragma once
#include <memory>

#include "runtime.h"

namespace r1 {

std::unique_ptr<Runtime> create_cuda_runtime(std::shared_ptr<const Model> model,
                                             const RuntimeOptions& options);
int cuda_runtime_device_count();
double cuda_measure_copy_bandwidth();

}  // namespace r1
