#pragma once
// What a GRPO run holds in memory, by kind, from the engine's own accounting (the trainers' memory plans and
// the rollout runtime's sizes), and what a PPO run of the same model would hold on top: its critic.
#include <cstdint>

#include "engine/train/train_memory.h"

namespace r1 {

class Runtime;

struct GrpoMemory {
  int64_t step = 0;             // 0: planned before the first rollout; else the step whose rollouts just ran
  TrainMemoryPlan policy;       // the policy trainer
  int64_t reference_bytes = 0;  // the frozen reference model (β > 0), a full trainer today; 0 without one
  int64_t rollout_weights_bytes = 0;  // the rollout runtime's copy of the weights; 0 before the first rollout
  int64_t kv_cache_bytes = 0;         // the rollout runtime's KV cache as allocated
  int64_t kv_used_bytes = 0;          // the part the last rollouts filled, at their longest
  TrainMemoryPlan critic;             // the PPO value model this run does without (ppo_critic_estimate)

  int64_t grpo_total_bytes() const {
    return policy.total_bytes() + reference_bytes + rollout_weights_bytes + kv_cache_bytes;
  }
  int64_t ppo_total_bytes() const { return grpo_total_bytes() + critic.total_bytes(); }
  int64_t saved_bytes() const { return ppo_total_bytes() - grpo_total_bytes(); }
};

// The critic a PPO run of the same policy would train: a value model of the policy's size, so its compute
// copy, fp32 master, gradients, AdamW moments and activations each equal the policy's. (A real value head
// replaces the LM head with one output per token, which makes it smaller by the LM head; the estimate keeps
// the policy's size, as PPO recipes that initialise the critic from the policy do.)
TrainMemoryPlan ppo_critic_estimate(const TrainMemoryPlan& policy);

// The weights a runtime holds: on the CPU the model it reads; on CUDA its bf16 device copy.
int64_t runtime_weight_bytes(const Runtime& rt);

// The rollout runtime's part: its weights, its allocated KV cache, and `tokens_held` tokens of that cache in
// use (capped at the allocation).
void account_rollout(GrpoMemory& memory, const Runtime& rt, int64_t tokens_held);

}  // namespace r1
