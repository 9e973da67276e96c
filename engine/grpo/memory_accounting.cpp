#include "memory_accounting.h"

#include <algorithm>

#include "engine/runtime/runtime.h"

namespace r1 {

TrainMemoryPlan ppo_critic_estimate(const TrainMemoryPlan& policy) {
  TrainMemoryPlan critic = policy;  // same size, same batch: every kind as the policy's
  return critic;
}

int64_t runtime_weight_bytes(const Runtime& rt) {
  const Model& m = rt.model();
  if (rt.device() == Device::Cuda) return m.parameter_count() * 2;
  int64_t bytes = 0;
  if (m.store)
    for (const std::string& name : m.store->names()) bytes += int64_t(m.store->find(name).nbytes());
  return bytes;
}

void account_rollout(GrpoMemory& memory, const Runtime& rt, int64_t tokens_held) {
  const KvCacheStats kv = rt.kv_stats();
  memory.rollout_weights_bytes = runtime_weight_bytes(rt);
  memory.kv_cache_bytes = kv.total_bytes;
  memory.kv_used_bytes = std::clamp<int64_t>(tokens_held * kv.bytes_per_token, 0, kv.total_bytes);
}

}  // namespace r1
