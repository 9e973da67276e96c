#include "run_config_export.h"

#include <QJsonDocument>

#include "chat_export.h"

namespace r1::app {

QJsonObject relaunchConfig(const RunInfo& run) {
  QJsonObject config = run.config;
  if (!run.model.isEmpty()) config.insert(QStringLiteral("model"), run.model);
  return config;
}

void exportRunConfig(const RunStore& store, qint64 run_id, const QString& path) {
  const std::optional<RunInfo> run = store.run(run_id);
  if (!run)
    throw StoreError(QStringLiteral("%1 holds no run %2").arg(store.path()).arg(run_id).toStdString());
  writeExportFile(path, QJsonDocument(relaunchConfig(*run)).toJson(QJsonDocument::Indented));
}

}  // namespace r1::app
