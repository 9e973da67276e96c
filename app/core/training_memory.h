#pragma once
// A fine-tune run's memory by kind, as the engine accounts for it (r1::GrpoMemory), in a value type that
// travels in queued signals: the policy trainer's plan, the reference model, the rollout runtime's weights
// and KV cache, and what a PPO critic of the policy's size would add.
#include <QMetaType>
#include <QtGlobal>

namespace r1::app {

struct TrainingMemory {
  qint64 step = 0;  // 0: planned before the first rollout; else the step whose rollouts just ran
  qint64 parameters = 0;
  qint64 batch = 0, seq = 0;  // the trainer's planned rows and their length
  // The policy trainer.
  qint64 weights_bytes = 0;  // bf16 compute copy (none on the CPU, which computes on the master)
  qint64 master_bytes = 0;   // fp32 master weights
  qint64 grads_bytes = 0;
  qint64 optimizer_bytes = 0;  // AdamW moments
  qint64 activations_bytes = 0;
  qint64 reference_bytes = 0;  // the frozen reference (β > 0); 0 without one
  // The rollout runtime (0 before the first rollout).
  qint64 rollout_weights_bytes = 0;
  qint64 kv_cache_bytes = 0;  // allocated
  qint64 kv_used_bytes = 0;   // filled by the last rollouts
  // The PPO critic estimate: a value model of the policy's size.
  qint64 critic_weights_bytes = 0;  // compute copy and master
  qint64 critic_grads_bytes = 0;
  qint64 critic_optimizer_bytes = 0;
  qint64 critic_activations_bytes = 0;

  qint64 allWeightsBytes() const { return weights_bytes + master_bytes + rollout_weights_bytes; }
  qint64 grpoTotal() const {
    return allWeightsBytes() + grads_bytes + optimizer_bytes + activations_bytes + reference_bytes +
           kv_cache_bytes;
  }
  qint64 criticTotal() const {
    return critic_weights_bytes + critic_grads_bytes + critic_optimizer_bytes + critic_activations_bytes;
  }
  qint64 ppoTotal() const { return grpoTotal() + criticTotal(); }
};

}  // namespace r1::app

Q_DECLARE_METATYPE(r1::app::TrainingMemory)
