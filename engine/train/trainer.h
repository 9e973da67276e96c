#pragma once
// The training engine's interface: one model's parameters, gradients, optimizer state and activations,
// planned up front (train_memory.h) and held by a backend (CPU fp32, or CUDA bf16 with fp32 master weights).
// A step is any number of forward_backward calls (gradient accumulation) then one optimizer_step.
//
// The loss is never formed from the whole [tokens x vocab] logits: the LM head runs in chunks of rows, each
// chunk yields per-token log-probabilities and entropies, a TokenObjective turns them into the loss and its
// derivatives, and the chunk's gradient flows back before the next chunk is computed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "engine/model/model.h"
#include "gradient_sync.h"
#include "param_layout.h"
#include "train_memory.h"

namespace r1 {

// A loss that is a sum of per-token terms f(logp_t, entropy_t) (SFT cross-entropy, GRPO's surrogate and KL,
// an entropy bonus). Rows are the batch's token positions, b * L + l.
class TokenObjective {
 public:
  virtual ~TokenObjective() = default;
  // Given rows [row0, row0 + n)'s log-probabilities of their targets and entropies, writes dLoss/dlogp and
  // dLoss/dentropy for each row and returns these rows' contribution to the loss.
  virtual double chunk(int64_t row0, int64_t n, const float* logp, const float* entropy, float* g_logp,
                       float* g_entropy) = 0;
};

// Mean cross-entropy over weighted tokens: loss = -Σ w_t logp_t / normalizer (normalizer = the total weight
// of every micro-batch in the step, so accumulated gradients equal one big batch's).
class CrossEntropyObjective final : public TokenObjective {
 public:
  CrossEntropyObjective(const float* weights, double normalizer) : weights_(weights), norm_(normalizer) {}
  double chunk(int64_t row0, int64_t n, const float* logp, const float* entropy, float* g_logp,
               float* g_entropy) override;
  double weighted_entropy() const { return entropy_sum_; }  // Σ w_t entropy_t, for metrics

 private:
  const float* weights_;
  double norm_;
  double entropy_sum_ = 0;
};

struct OptimizerHyper {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // 0: no clipping
};

enum class TrainDevice { Cpu, Cuda };
const char* train_device_name(TrainDevice d);
TrainDevice parse_train_device(const std::string& s);

struct TrainerOptions {
  TrainDevice device = TrainDevice::Cpu;
  int64_t max_batch = 1, max_seq = 128;  // the activation plan's shape; batches may be smaller
  bool recompute = false;                // keep only each layer's input; recompute the rest in backward
  int64_t lm_head_chunk_rows = 0;        // 0: chosen by the planner
  // CUDA: attention that keeps one log-sum-exp per query row instead of the L x L probabilities, where the
  // head dims allow it (kernels/cuda/flash_attention.h); false keeps the probabilities (for comparison).
  bool flash_attention = true;
};

class Trainer {
 public:
  virtual ~Trainer() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const ParamLayout& layout() const = 0;
  virtual const TrainMemoryPlan& memory_plan() const = 0;

  // Adds this batch's gradients of the objective; returns its loss terms' sum. logp/entropy (optional, size
  // B * L) receive every row's values.
  virtual double forward_backward(const TrainBatch& batch, TokenObjective& objective, float* logp = nullptr,
                                  float* entropy = nullptr) = 0;
  // Forward only: the log-probabilities (and entropies, if asked) of the batch's targets.
  virtual void score(const TrainBatch& batch, float* logp, float* entropy = nullptr) = 0;
  // Clips by global norm, applies AdamW with the given learning rate, clears the gradients. Returns the
  // gradient norm before clipping.
  virtual double optimizer_step(const OptimizerHyper& h, double lr) = 0;
  virtual void zero_grads() = 0;
  virtual int64_t steps_taken() const = 0;
  // Data parallelism: from now on the step's last backward pass hands its gradient buckets to `sync` as they
  // complete, and optimizer_step first waits for the sum over the ranks. Null: this trainer trains alone.
  virtual void set_gradient_sync(GradientSync* sync) = 0;
  // Per mixture-of-experts layer, per routed expert: the tokens routed to it by the last forward (empty for a
  // dense model).
  virtual std::vector<std::vector<int64_t>> expert_token_counts() const { return {}; }

  // fp32 host copies of the whole block, in layout order (checkpoints, tests).
  virtual std::vector<float> parameters() const = 0;
  // The bf16 compute copy of the parameters in device memory (at the layout's offsets, current after every
  // optimizer step), or null where the trainer computes on its fp32 master (the CPU).
  virtual const void* device_compute_weights() const { return nullptr; }
  virtual std::vector<float> gradients() const = 0;
  virtual void set_parameters(const std::vector<float>& p) = 0;
  struct OptimizerState {
    int64_t step = 0;
    std::vector<float> m, v;
  };
  virtual OptimizerState optimizer_state() const = 0;
  virtual void set_optimizer_state(const OptimizerState& s) = 0;
};

// Builds the trainer for a loaded model (weights widened to fp32 master copies). Throws OutOfMemoryError with
// the plan's breakdown when it does not fit, before allocating anything large.
std::unique_ptr<Trainer> make_trainer(const Model& model, const TrainerOptions& options);

// The model's current weights as a loaded Model (fp32, in memory), e.g. for saving or for inference.
std::shared_ptr<const Model> trained_model(const Model& base, const ParamLayout& layout,
                                           const std::vector<float>& params);

}  // namespace r1
