#include "finetune_session.h"

#include "grpo_worker.h"

namespace r1::app {

FinetuneSession::FinetuneSession(const QString& store_path, QObject* parent)
    : QObject(parent), store_path_(store_path), control_(std::make_shared<FinetuneControl>()) {
  qRegisterMetaType<r1::app::FinetuneOptions>();
  qRegisterMetaType<r1::app::TrainingMemory>();
  thread_.setObjectName(QStringLiteral("grpo-worker"));
  worker_ = new GrpoWorker(store_path_, control_);
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

  connect(this, &FinetuneSession::runRequested, worker_, &GrpoWorker::run, Qt::QueuedConnection);
  connect(worker_, &GrpoWorker::runStarted, this, &FinetuneSession::onRunStarted, Qt::QueuedConnection);
  connect(worker_, &GrpoWorker::stepMetrics, this, &FinetuneSession::stepMetrics, Qt::QueuedConnection);
  connect(worker_, &GrpoWorker::memoryPlanned, this, &FinetuneSession::memoryPlanned, Qt::QueuedConnection);
  connect(worker_, &GrpoWorker::logLine, this, &FinetuneSession::logLine, Qt::QueuedConnection);
  connect(worker_, &GrpoWorker::paused, this, &FinetuneSession::onPaused, Qt::QueuedConnection);
  connect(
      worker_, &GrpoWorker::finished, this,
      [this](const QString& status) {
        onEnded();
        emit finished(status);
      },
      Qt::QueuedConnection);
  connect(
      worker_, &GrpoWorker::failed, this,
      [this](const QString& message) {
        onEnded();
        emit failed(message);
      },
      Qt::QueuedConnection);
  thread_.start();
}

FinetuneSession::~FinetuneSession() {
  control_->stop();  // a run ends after its current step
  thread_.quit();
  thread_.wait();
}

bool FinetuneSession::start(const FinetuneOptions& options) {
  if (isActive()) return false;
  control_->reset();
  run_id_ = 0;
  setState(State::Running);
  emit runRequested(options);
  return true;
}

void FinetuneSession::pause() {
  if (state_ != State::Running) return;
  control_->pause();
  setState(State::Pausing);
}

void FinetuneSession::resume() {
  if (state_ != State::Pausing && state_ != State::Paused) return;
  control_->resume();
  setState(State::Running);
}

void FinetuneSession::stop() {
  if (state_ == State::Idle || state_ == State::Stopping) return;
  control_->stop();
  setState(State::Stopping);
}

void FinetuneSession::setState(State state) {
  if (state_ == state) return;
  state_ = state;
  emit stateChanged(state);
}

void FinetuneSession::onRunStarted(qint64 run_id) {
  run_id_ = run_id;
  emit runStarted(run_id);
}

void FinetuneSession::onPaused() {
  // A pause the user has already resumed or stopped by the time the worker reports it changes nothing.
  if (state_ == State::Pausing) setState(State::Paused);
}

void FinetuneSession::onEnded() {
  setState(State::Idle);
}

}  // namespace r1::app
