#pragma once
// Distillation as in DeepSeek-R1 §2.4: a teacher writes reasoning traces for task prompts, a verifier keeps
// the correct ones (rejection sampling), and the student is fine-tuned on them with SFT.
#include <filesystem>
#include <functional>
#include <string>

#include "engine/train/sft_run.h"
#include "tasks.h"

namespace r1 {

struct DistillOptions {
  std::filesystem::path teacher_dir, student_dir;
  std::string task = "countdown", difficulty = "default";
  std::filesystem::path prompts_path;  // JSONL problems instead of the task generator
  int64_t prompts = 256;               // problems the teacher answers
  int64_t samples_per_prompt = 4;      // completions drawn per problem; each correct one is kept
  int64_t max_completion = 256;
  float temperature = 0.7f;
  uint64_t seed = 0;
  TrainDevice device = TrainDevice::Cpu;
  std::filesystem::path traces_jsonl;  // where the kept traces are written (the SFT data)
  SftRunOptions sft;                   // model_dir and data_path are filled in
  std::function<void(const std::string&)> on_log;
};

struct DistillResult {
  int64_t generated = 0, kept = 0, prompts_with_a_kept_trace = 0;
  SftRunResult sft;
};

DistillResult run_distill(const DistillOptions& options);

}  // namespace r1
