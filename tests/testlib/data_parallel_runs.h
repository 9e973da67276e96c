#pragma once
// Runs shared by the data-parallel suites (CPU ranks and GPUs): a small SFT set-up, and one GRPO run made
// on one rank and again on two, each with its own record.
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/grpo/grpo_run.h"
#include "engine/train/sft_run.h"
#include "memory_recorder.h"
#include "test_support.h"

namespace r1::test {

// SFT on the qwen2-tied fixture from `lines` "sum a and b is" lines written into `dir`.
inline SftRunOptions sum_sft(const std::filesystem::path& dir, int lines) {
  std::ofstream f(dir / "data.jsonl");
  for (int i = 0; i < lines; ++i)
    f << nlohmann::json{{"prompt", "sum " + std::to_string(i) + " and " + std::to_string(3 * i) + " is"},
                        {"completion", " " + std::to_string(4 * i)}}
             .dump()
      << "\n";
  SftRunOptions o;
  o.model_dir = fixtures() / "models" / "qwen2-tied";
  o.data_path = dir / "data.jsonl";
  o.batch = 4, o.seq = 24, o.steps = 6, o.lr = 3e-3, o.grad_accum = 2, o.seed = 3;
  o.chat_template = false;
  return o;
}

struct GrpoPair {
  MemoryRecorder rec1, rec2;
  GrpoRunResult one, two;
};

inline std::unique_ptr<GrpoPair> grpo_on_one_and_two(GrpoRunOptions o) {
  auto p = std::make_unique<GrpoPair>();
  o.gpus = 1, o.recorder = &p->rec1;
  p->one = run_grpo(o);
  o.gpus = 2, o.recorder = &p->rec2;
  p->two = run_grpo(o);
  return p;
}

}  // namespace r1::test
