#pragma once
// A supervised fine-tuning run from a JSONL file: tokenise, plan memory, then steps of gradient accumulation
// and AdamW under a warm-up + cosine schedule, with metrics per step and atomic checkpoints. Used by
// `r1wb train sft` and the workbench's Fine-tune page; resumable from any checkpoint with the same results
// as an uninterrupted run.
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trainer.h"

namespace r1 {

struct SftRunOptions {
  std::filesystem::path model_dir, data_path;
  std::filesystem::path out_dir;        // checkpoints; empty: none
  std::filesystem::path metrics_jsonl;  // one JSON object per step, appended; empty: none
  std::filesystem::path resume;         // a run folder or checkpoint to continue from; empty: fresh
  TrainDevice device = TrainDevice::Cpu;
  // Data-parallel ranks: GPUs 0 .. gpus-1 on CUDA (NCCL), threads on the CPU. Each trains batch / gpus rows
  // of every micro-batch; the losses equal one rank's up to the order of sums.
  int64_t gpus = 1;
  int64_t steps = 100;     // total optimizer steps of the run (a resumed run continues up to this)
  int64_t batch = 8;       // rows per micro-batch
  int64_t seq = 512;       // positions per row
  int64_t grad_accum = 1;  // micro-batches per step
  int64_t warmup = 0;      // steps
  int64_t save_every = 0;  // steps between checkpoints; 0: only at the end
  double lr = 1e-5, min_lr_ratio = 0.1;
  OptimizerHyper optimizer;
  uint64_t seed = 0;
  bool recompute = false;
  std::optional<bool> chat_template;  // unset: use the model's template when it has one

  std::function<void(const std::string&)> on_log;
  std::function<void(const struct SftStepMetrics&)> on_step;
  const std::atomic<bool>* cancel = nullptr;  // checked between steps; a cancelled run saves a checkpoint
};

struct SftStepMetrics {
  int64_t step = 0, total_steps = 0;
  double loss = 0, lr = 0, grad_norm = 0, entropy = 0;
  double tokens = 0, trained_tokens = 0;  // positions processed, positions with a loss term
  double tokens_per_s = 0, elapsed_s = 0;
  int64_t memory_bytes = 0;
  std::vector<std::vector<int64_t>> expert_tokens;  // MoE models: tokens routed to each expert, per MoE layer
};

struct SftRunResult {
  int64_t first_step = 0, last_step = 0;
  std::vector<double> losses;  // per step of this invocation
  std::filesystem::path last_checkpoint;
  bool cancelled = false;
  TrainMemoryPlan plan;
};

SftRunResult run_sft(const SftRunOptions& options);

// One metrics line (JSON object without a newline).
std::string sft_metrics_json(const SftStepMetrics& m);

}  // namespace r1
