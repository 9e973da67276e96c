#pragma once
// Where a training run's record goes: the run, every step's metrics, every rollout (prompt, completion split
// into thinking and answer, rewards, advantage, tokens and their log-probabilities) and the checkpoints. The
// engine only calls this interface; the workbench's SQLite run store implements it (app/core), so a run
// started from the command line can be inspected in the window.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace r1 {

struct RolloutRecord {
  int64_t prompt_index = 0;  // within the step
  int64_t group_index = 0;   // completion number within its prompt's group
  std::string prompt;
  std::string thinking, answer;                         // the completion's text, split at </think>
  std::vector<std::pair<std::string, double>> rewards;  // per reward function, unweighted
  double reward = 0;                                    // weighted total
  double advantage = 0;
  bool truncated = false;
  std::vector<int32_t> tokens;  // completion tokens
  std::vector<float> logprobs;  // the rollout policy's log-probability of each
};

struct StepRecord {
  int64_t step = 0;
  nlohmann::json metrics;  // an object of numbers
  std::vector<RolloutRecord> rollouts;
};

class RunRecorder {
 public:
  virtual ~RunRecorder() = default;
  // Starts a new run and returns its id.
  virtual int64_t begin_run(const std::string& kind, const std::string& model,
                            const nlohmann::json& config) = 0;
  // Continues run `id` (status back to running); returns the last step recorded (0 when none).
  virtual int64_t resume_run(int64_t id) = 0;
  // One step and its rollouts, atomically: after a crash a step is either wholly there or absent.
  virtual void record_step(int64_t run, const StepRecord& step) = 0;
  virtual void record_checkpoint(int64_t run, int64_t step, const std::string& path) = 0;
  // The newest checkpoint of a run (step, path), if any.
  virtual std::optional<std::pair<int64_t, std::string>> last_checkpoint(int64_t run) const = 0;
  virtual void finish_run(int64_t run, const std::string& status) = 0;  // "finished", "cancelled", "failed"
};

}  // namespace r1
