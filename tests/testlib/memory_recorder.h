#pragma once
// A RunRecorder that keeps what a run records in memory, for the suites that inspect a run's record.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/grpo/recorder.h"

namespace r1::test {

class MemoryRecorder final : public RunRecorder {
 public:
  int64_t begin_run(const std::string& kind, const std::string&, const nlohmann::json&) override {
    kinds.push_back(kind);
    return int64_t(kinds.size());
  }
  int64_t resume_run(int64_t) override { return steps.empty() ? 0 : steps.rbegin()->first; }
  void record_step(int64_t, const StepRecord& s) override { steps[s.step] = s; }
  void record_checkpoint(int64_t, int64_t step, const std::string& path) override {
    ckpts.emplace_back(step, path);
  }
  std::optional<std::pair<int64_t, std::string>> last_checkpoint(int64_t) const override {
    if (ckpts.empty()) return std::nullopt;
    return ckpts.back();
  }
  void finish_run(int64_t, const std::string& s) override { status = s; }

  std::vector<std::string> kinds;
  std::map<int64_t, StepRecord> steps;
  std::vector<std::pair<int64_t, std::string>> ckpts;
  std::string status;
};

}  // namespace r1::test
