#include "grpo_worker.h"

#include <QJsonDocument>

#include "engine/grpo/grpo_run.h"
#include "store_recorder.h"

namespace r1::app {
namespace {

// The store's recorder, telling the worker the run's id as soon as the engine has begun it.
class NotifyingRecorder final : public r1::RunRecorder {
 public:
  NotifyingRecorder(StoreRecorder& inner, std::function<void(int64_t)> on_begin)
      : inner_(inner), on_begin_(std::move(on_begin)) {}

  int64_t begin_run(const std::string& kind, const std::string& model,
                    const nlohmann::json& config) override {
    run_id_ = inner_.begin_run(kind, model, config);
    on_begin_(run_id_);
    return run_id_;
  }
  int64_t resume_run(int64_t id) override {
    run_id_ = id;
    return inner_.resume_run(id);
  }
  void record_step(int64_t run, const r1::StepRecord& step) override { inner_.record_step(run, step); }
  void record_checkpoint(int64_t run, int64_t step, const std::string& path) override {
    inner_.record_checkpoint(run, step, path);
  }
  std::optional<std::pair<int64_t, std::string>> last_checkpoint(int64_t run) const override {
    return inner_.last_checkpoint(run);
  }
  void finish_run(int64_t run, const std::string& status) override {
    inner_.finish_run(run, status);
    finished_ = true;
  }

  int64_t runId() const { return run_id_; }
  bool isFinished() const { return finished_; }

 private:
  StoreRecorder& inner_;
  std::function<void(int64_t)> on_begin_;
  int64_t run_id_ = 0;
  bool finished_ = false;
};

TrainingMemory to_training_memory(const r1::GrpoMemory& m) {
  TrainingMemory t;
  t.step = m.step;
  t.parameters = m.policy.parameters;
  t.batch = m.policy.batch, t.seq = m.policy.seq;
  t.weights_bytes = m.policy.weights_bytes;
  t.master_bytes = m.policy.master_bytes;
  t.grads_bytes = m.policy.grads_bytes;
  t.optimizer_bytes = m.policy.optimizer_bytes;
  t.activations_bytes = m.policy.activations_bytes;
  t.reference_bytes = m.reference_bytes;
  t.rollout_weights_bytes = m.rollout_weights_bytes;
  t.kv_cache_bytes = m.kv_cache_bytes;
  t.kv_used_bytes = m.kv_used_bytes;
  t.critic_weights_bytes = m.critic.weights_bytes + m.critic.master_bytes;
  t.critic_grads_bytes = m.critic.grads_bytes;
  t.critic_optimizer_bytes = m.critic.optimizer_bytes;
  t.critic_activations_bytes = m.critic.activations_bytes;
  return t;
}

// The same conversion the store applies, so that live figures equal the stored ones.
QJsonObject to_qjson(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
}

}  // namespace

void FinetuneControl::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = false;
  cancel_ = false;
}

void FinetuneControl::pause() {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = true;
}

void FinetuneControl::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = false;
  }
  wake_.notify_all();
}

void FinetuneControl::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancel_ = true;
    paused_ = false;
  }
  wake_.notify_all();
}

bool FinetuneControl::waitWhilePaused(const std::function<void()>& on_pause) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!paused_ || cancel_) return false;
  lock.unlock();
  on_pause();
  lock.lock();
  wake_.wait(lock, [this] { return !paused_ || cancel_; });
  return true;
}

GrpoWorker::GrpoWorker(QString store_path, std::shared_ptr<FinetuneControl> control)
    : store_path_(std::move(store_path)), control_(std::move(control)) {}

void GrpoWorker::run(const FinetuneOptions& options) {
  std::unique_ptr<StoreRecorder> store;
  std::unique_ptr<NotifyingRecorder> recorder;
  try {
    r1::GrpoRunOptions o = toGrpoOptions(options);
    if (!store_path_.isEmpty()) {
      store = std::make_unique<StoreRecorder>(store_path_);
      recorder = std::make_unique<NotifyingRecorder>(*store, [this](int64_t id) { emit runStarted(id); });
      o.recorder = recorder.get();
    }
    o.cancel = control_->cancelFlag();
    o.on_log = [this](const std::string& line) { emit logLine(QString::fromStdString(line)); };
    o.on_memory = [this](const r1::GrpoMemory& m) { emit memoryPlanned(to_training_memory(m)); };
    o.on_step = [this](const nlohmann::json& m) {
      emit stepMetrics(to_qjson(m));
      const qint64 step = m.value("step", int64_t(0));
      if (control_->waitWhilePaused([this, step] { emit paused(step); })) emit resumed();
    };
    const r1::GrpoRunResult result = r1::run_grpo(o);
    emit finished(result.cancelled ? QStringLiteral("cancelled") : QStringLiteral("finished"));
  } catch (const std::exception& e) {
    // The engine leaves a run it began "running" when it throws; the record says what happened.
    if (recorder && recorder->runId() > 0 && !recorder->isFinished()) {
      try {
        recorder->finish_run(recorder->runId(), "failed");
      } catch (const std::exception& store_error) {
        emit logLine(tr("Could not mark the run failed in the store: %1").arg(store_error.what()));
      }
    }
    emit failed(QString::fromStdString(e.what()));
  }
}

}  // namespace r1::app
