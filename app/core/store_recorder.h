#pragma once
// The engine's RunRecorder over the run store, so that a training run started anywhere lands in the same
// SQLite file the workbench reads. It owns its connection, so like a RunStore it is used only in the thread
// that made it. Store failures come out as r1::Error, the engine's one kind of error.
#include <QString>

#include "core/run_store.h"
#include "engine/grpo/recorder.h"

namespace r1::app {

class StoreRecorder final : public r1::RunRecorder {
 public:
  explicit StoreRecorder(const QString& path);

  int64_t begin_run(const std::string& kind, const std::string& model, const nlohmann::json& config) override;
  int64_t resume_run(int64_t id) override;
  void record_step(int64_t run, const StepRecord& step) override;
  void record_checkpoint(int64_t run, int64_t step, const std::string& path) override;
  std::optional<std::pair<int64_t, std::string>> last_checkpoint(int64_t run) const override;
  void finish_run(int64_t run, const std::string& status) override;

 private:
  RunStore store_;
};

}  // namespace r1::app
