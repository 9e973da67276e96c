#pragma once
// A GRPO run: each step samples P prompts, generates G completions per prompt with the batched runtime (the
// G sequences of a prompt fork its prefilled KV cache), scores them, forms group-relative advantages and
// updates the policy μ times with the clipped surrogate (and the k3 KL to a frozen reference when β > 0).
// Metrics per step go to a JSONL file and, with the rollouts, to a RunRecorder; checkpoints are atomic and
// a resumed run continues with the same problems and step numbers.
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/runtime/sampler.h"
#include "grpo.h"
#include "memory_accounting.h"
#include "recorder.h"
#include "rewards.h"
#include "tasks.h"

namespace r1 {

struct GrpoRunOptions {
  std::filesystem::path model_dir;
  std::string task = "countdown", difficulty = "default";
  std::filesystem::path data_path;  // JSONL problems instead of a task generator
  std::string rewards;              // spec; empty: default_reward_spec of the task
  int64_t group_size = 8, prompts_per_step = 16, max_completion = 256, steps = 100;
  int64_t mu = 1;           // policy updates per batch of rollouts
  int64_t micro_batch = 0;  // rows per forward/backward; 0: every row at once
  double lr = 1e-6, min_lr_ratio = 1.0;
  int64_t warmup = 0;
  OptimizerHyper optimizer;
  GrpoLossConfig loss;
  LossAggregation aggregation = LossAggregation::Grpo;
  AdvantageScale scale = AdvantageScale::Group;
  bool dynamic_sampling = false;  // drop groups whose rewards are all equal
  bool mask_truncated = false;    // no loss on completions cut at max_completion
  float temperature = 1.0f, top_p = 1.0f;
  uint64_t seed = 0;
  TrainDevice device = TrainDevice::Cpu;
  // Data-parallel ranks: GPUs 0 .. gpus-1 on CUDA (NCCL), threads on the CPU. Each generates and trains
  // prompts_per_step / gpus prompts' groups; the results equal one rank's up to the order of sums.
  int64_t gpus = 1;
  std::filesystem::path out_dir, metrics_jsonl;
  int64_t save_every = 0;
  std::filesystem::path resume;  // a run folder or checkpoint
  RunRecorder* recorder = nullptr;
  int64_t resume_run_id = 0;  // with a recorder: continue this run's record

  std::function<void(const std::string&)> on_log;
  std::function<void(const nlohmann::json& metrics)> on_step;
  // What the run holds, by kind: once when the trainers exist, then after every step's rollouts (with the
  // rollout runtime's weights and KV cache).
  std::function<void(const GrpoMemory& memory)> on_memory;
  const std::atomic<bool>* cancel = nullptr;
};

struct GrpoRunResult {
  int64_t first_step = 0, last_step = 0, run_id = 0;
  std::vector<nlohmann::json> metrics;
  std::filesystem::path last_checkpoint;
  bool cancelled = false;
};

GrpoRunResult run_grpo(const GrpoRunOptions& options);

// Prompt text -> ids the model is asked with: the chat template's user turn and generation prompt when the
// model folder has a template, else [bos] text.
std::vector<int32_t> encode_prompt(const std::filesystem::path& model_dir, const class Tokenizer& tokenizer,
                                   const std::string& text);

struct EvalResult {
  int64_t n = 0;
  double accuracy = 0, format_rate = 0, mean_length = 0;
};
// Greedy completions of the fixed held-out problems of a task (or of a JSONL file), scored by the task's
// verifier.
EvalResult evaluate(const std::filesystem::path& model_dir, const TaskConfig& task, int64_t n,
                    int64_t max_completion, TrainDevice device, const std::filesystem::path& data_path = {});

}  // namespace r1
