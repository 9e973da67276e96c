#pragma once
// The fine-tune session: runs GRPO on its own worker thread, so the GUI never waits on the engine. Start,
// Pause, Resume and Stop are calls on this object (GUI thread); the run's id, per-step metrics, log lines and
// its end come back as queued signals carrying value types. A pause takes effect at the next step boundary
// (the step in progress is finished and recorded first); Stop ends the run after the step in progress, and
// the store marks it cancelled.
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QThread>
#include <memory>

#include "finetune_options.h"
#include "training_memory.h"

namespace r1::app {

class FinetuneControl;
class GrpoWorker;

class FinetuneSession : public QObject {
  Q_OBJECT

 public:
  enum class State { Idle, Running, Pausing, Paused, Stopping };
  Q_ENUM(State)

  // Runs are recorded in the run store at `store_path` (the worker opens its own connection); empty: not
  // recorded.
  explicit FinetuneSession(const QString& store_path = {}, QObject* parent = nullptr);
  ~FinetuneSession() override;

  State state() const { return state_; }
  bool isActive() const { return state_ != State::Idle; }
  qint64 runId() const { return run_id_; }  // the current or last run; 0 before its record exists
  const QString& storePath() const { return store_path_; }

  // Starts a run; false (and nothing happens) while one is active.
  bool start(const r1::app::FinetuneOptions& options);
  void pause();
  void resume();
  void stop();

 signals:
  void stateChanged(r1::app::FinetuneSession::State state);
  void runStarted(qint64 run_id);
  void stepMetrics(const QJsonObject& metrics);
  // What the run holds, by kind: once its trainers exist, then after every step's rollouts.
  void memoryPlanned(const r1::app::TrainingMemory& memory);
  void logLine(const QString& line);
  void finished(const QString& status);  // "finished" or "cancelled"
  void failed(const QString& message);

  // To the worker.
  void runRequested(const r1::app::FinetuneOptions& options);

 private:
  void setState(State state);
  void onRunStarted(qint64 run_id);
  void onPaused();
  void onEnded();

  QString store_path_;
  QThread thread_;
  GrpoWorker* worker_ = nullptr;
  std::shared_ptr<FinetuneControl> control_;
  State state_ = State::Idle;
  qint64 run_id_ = 0;
};

}  // namespace r1::app
