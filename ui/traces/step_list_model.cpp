#include "step_list_model.h"

#include <QDateTime>
#include <QJsonDocument>

namespace r1::ui {
namespace {

// The metrics worth a glance in the list; the tooltip has them all.
QString headline(const QJsonObject& metrics) {
  QStringList parts;
  const auto add = [&](const char* key, const QString& label) {
    const QJsonValue v = metrics.value(QLatin1String(key));
    if (v.isDouble()) parts << QStringLiteral("%1 %2").arg(label).arg(v.toDouble(), 0, 'f', 3);
  };
  add("reward_mean", StepListModel::tr("reward"));
  add("accuracy", StepListModel::tr("acc"));
  return parts.join(QStringLiteral("  "));
}

}  // namespace

StepListModel::StepListModel(QObject* parent) : PagedRowsModel(kPageSize, parent) {}

void StepListModel::setRun(r1::app::RunStore* store, qint64 run_id) {
  store_ = store;
  run_id_ = run_id;
  reload();
}

bool StepListModel::hasSource() const {
  return store_ && run_id_ > 0;
}

int StepListModel::readCount() const {
  return store_->stepCount(run_id_);
}

QVector<r1::app::StepEntry> StepListModel::readPage(int limit, int offset) const {
  return store_->stepPage(run_id_, limit, offset);
}

void StepListModel::readFailed(const QString& message) {
  emit loadFailed(message);
}

QVariant StepListModel::data(const QModelIndex& index, int role) const {
  const r1::app::StepEntry* entry = index.isValid() ? rowAt(index.row()) : nullptr;
  if (!entry) return {};
  const auto& s = *entry;
  switch (role) {
    case Qt::DisplayRole: {
      const QString numbers = headline(s.metrics);
      return numbers.isEmpty() ? tr("Step %1").arg(s.step) : tr("Step %1   %2").arg(s.step).arg(numbers);
    }
    case Qt::ToolTipRole:
      return tr("Step %1, %2\n%3")
          .arg(s.step)
          .arg(QDateTime::fromMSecsSinceEpoch(s.created_ms).toString(QStringLiteral("yyyy-MM-dd hh:mm:ss")))
          .arg(QString::fromUtf8(QJsonDocument(s.metrics).toJson(QJsonDocument::Indented)));
    case StepRole:
      return s.step;
    default:
      return {};
  }
}

qint64 StepListModel::stepAt(int row) const {
  const r1::app::StepEntry* entry = rowAt(row);
  return entry ? entry->step : 0;
}

}  // namespace r1::ui
