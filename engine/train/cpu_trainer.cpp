#include <unistd.h>

#include "cpu_ops.h"
#include "transformer_trainer.h"

namespace r1 {

void CpuOps::reserve(const TrainMemoryPlan& plan) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const double ram = pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
  if (ram > 0 && double(plan.total_bytes()) > 0.9 * ram)
    throw OutOfMemoryError(cat("training needs ", double(plan.total_bytes()) / (1 << 30),
                               " GiB but this machine has ", ram / (1 << 30),
                               " GiB of memory: ", plan.describe()));
}

void* CpuOps::alloc(size_t bytes) {
  blocks_.push_back(std::unique_ptr<std::byte[]>(new std::byte[bytes]()));
  return blocks_.back().get();
}

std::unique_ptr<Trainer> make_cpu_trainer(const Model& model, const TrainerOptions& options) {
  return std::make_unique<TransformerTrainer<CpuOps>>(model, options);
}

}  // namespace r1
