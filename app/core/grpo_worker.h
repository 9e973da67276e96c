#pragma once
// The fine-tune session's worker: lives on the session's thread and runs r1::run_grpo there, recording into
// its own connection to the run store. Pause blocks the run at the step boundary (after a step is recorded
// and reported) until resumed or stopped; Stop raises the engine's cancel flag, which ends the run after the
// step in progress. Only FinetuneSession talks to it.
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "finetune_options.h"
#include "training_memory.h"

namespace r1::app {

// Pause and stop requests, raised on the GUI thread and honoured on the worker's.
class FinetuneControl {
 public:
  void reset();  // before a run: neither paused nor stopped
  void pause();
  void resume();
  void stop();  // also releases a pause
  const std::atomic<bool>* cancelFlag() const { return &cancel_; }
  // Blocks while a pause is requested and no stop; `on_pause` runs once before blocking. Returns whether it
  // blocked.
  bool waitWhilePaused(const std::function<void()>& on_pause);

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool paused_ = false;
  std::atomic<bool> cancel_{false};
};

class GrpoWorker : public QObject {
  Q_OBJECT

 public:
  // Runs are recorded in the store at `store_path`; empty: not recorded.
  GrpoWorker(QString store_path, std::shared_ptr<FinetuneControl> control);

  void run(const r1::app::FinetuneOptions& options);

 signals:
  void runStarted(qint64 run_id);
  void stepMetrics(const QJsonObject& metrics);
  void memoryPlanned(const r1::app::TrainingMemory& memory);
  void logLine(const QString& line);
  void paused(qint64 step);
  void resumed();
  void finished(const QString& status);  // "finished" or "cancelled"
  void failed(const QString& message);

 private:
  QString store_path_;
  std::shared_ptr<FinetuneControl> control_;
};

}  // namespace r1::app
