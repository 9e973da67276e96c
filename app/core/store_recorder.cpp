#include "store_recorder.h"

#include <QJsonDocument>

#include "engine/core/error.h"

namespace r1::app {
namespace {

// Runs `f`, turning a StoreError into the r1::Error the engine's callers catch and report.
template <typename F>
auto engine_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const StoreError& e) {
    throw r1::Error(e.what());
  }
}

QString qstr(const std::string& s) {
  return QString::fromStdString(s);
}

QJsonObject to_qjson(const nlohmann::json& j, const char* what) {
  if (j.is_null()) return {};
  if (!j.is_object()) r1::fail("run store: ", what, " must be a JSON object, got ", j.type_name());
  // Invalid UTF-8 in a string (a model's stray bytes) is replaced rather than failing the step.
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
}

RolloutEntry to_entry(const RolloutRecord& r) {
  RolloutEntry e;
  e.prompt_index = r.prompt_index;
  e.group_index = r.group_index;
  e.prompt = qstr(r.prompt);
  e.thinking = qstr(r.thinking);
  e.answer = qstr(r.answer);
  for (const auto& [name, value] : r.rewards) {
    const QString key = qstr(name);
    if (e.rewards.contains(key))
      r1::fail("run store: rollout (", r.prompt_index, ", ", r.group_index, ") names reward \"", name,
               "\" twice");
    e.rewards.insert(key, value);
  }
  e.reward = r.reward;
  e.advantage = r.advantage;
  e.truncated = r.truncated;
  e.tokens = QVector<qint32>(r.tokens.begin(), r.tokens.end());
  e.logprobs = QVector<float>(r.logprobs.begin(), r.logprobs.end());
  return e;
}

}  // namespace

StoreRecorder::StoreRecorder(const QString& path) try : store_(path) {
} catch (const StoreError& e) {
  throw r1::Error(e.what());
}

int64_t StoreRecorder::begin_run(const std::string& kind, const std::string& model,
                                 const nlohmann::json& config) {
  const QJsonObject qconfig = to_qjson(config, "the run's config");
  return engine_errors([&] { return store_.createRun(qstr(kind), qstr(model), qconfig); });
}

int64_t StoreRecorder::resume_run(int64_t id) {
  return engine_errors([&] { return store_.resumeRun(id); });
}

void StoreRecorder::record_step(int64_t run, const StepRecord& step) {
  const QJsonObject metrics = to_qjson(step.metrics, "a step's metrics");
  QVector<RolloutEntry> rollouts;
  rollouts.reserve(qsizetype(step.rollouts.size()));
  for (const RolloutRecord& r : step.rollouts) rollouts.push_back(to_entry(r));
  engine_errors([&] { store_.recordStep(run, step.step, metrics, rollouts); });
}

void StoreRecorder::record_checkpoint(int64_t run, int64_t step, const std::string& path) {
  engine_errors([&] { store_.recordCheckpoint(run, step, qstr(path)); });
}

std::optional<std::pair<int64_t, std::string>> StoreRecorder::last_checkpoint(int64_t run) const {
  const QVector<CheckpointEntry> all = engine_errors([&] { return store_.checkpoints(run); });
  if (all.isEmpty()) return std::nullopt;
  return std::pair<int64_t, std::string>{all.last().step, all.last().path.toStdString()};
}

void StoreRecorder::finish_run(int64_t run, const std::string& status) {
  engine_errors([&] { store_.finishRun(run, qstr(status)); });
}

}  // namespace r1::app
