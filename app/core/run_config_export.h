#pragma once
// A training run's config as `r1wb train grpo --config FILE` reads it: the options the run store kept for the
// run (the engine's key names: group_size, prompts_per_step, ...) plus the run's model, so the file alone
// re-launches the run.
#include <QJsonObject>
#include <QString>

#include "run_store.h"

namespace r1::app {

QJsonObject relaunchConfig(const RunInfo& run);

// Run `run_id` of `store` written to `path` as indented JSON. Throws StoreError for a run the store lacks,
// ExportError (chat_export.h) for a file that cannot be written.
void exportRunConfig(const RunStore& store, qint64 run_id, const QString& path);

}  // namespace r1::app
