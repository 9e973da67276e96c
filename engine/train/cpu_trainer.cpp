#include "cpu_ops.h"
#include "engine/core/host_memory.h"
#include "transformer_trainer.h"

namespace r1 {

void CpuOps::reserve(const TrainMemoryPlan& plan) {
  check_host_memory("training on the CPU",
                    {{"master weights", plan.master_bytes},
                     {"gradients", plan.grads_bytes},
                     {"optimizer", plan.optimizer_bytes},
                     {"activations", plan.activations_bytes},
                     {"compute copy", plan.weights_bytes}},
                    "try a smaller --batch or --seq, or --recompute");
}

void* CpuOps::alloc(size_t bytes) {
  blocks_.push_back(std::unique_ptr<std::byte[]>(new std::byte[bytes]()));
  return blocks_.back().get();
}

std::unique_ptr<Trainer> make_cpu_trainer(const Model& model, const TrainerOptions& options) {
  return std::make_unique<TransformerTrainer<CpuOps>>(model, options);
}

}  // namespace r1
