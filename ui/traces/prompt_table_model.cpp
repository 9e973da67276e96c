#include "prompt_table_model.h"

#include <QBrush>
#include <QColor>

namespace r1::ui {
namespace {

QString oneLine(const QString& text) {
  QString s = text.simplified();
  return s.size() > 200 ? s.left(199) + QChar(0x2026) : s;
}

}  // namespace

PromptTableModel::PromptTableModel(QObject* parent) : PagedRowsModel(kPageSize, parent) {}

void PromptTableModel::setQuery(r1::app::RunStore* store, qint64 run_id, qint64 step,
                                const r1::app::PromptFilter& filter) {
  store_ = store;
  run_id_ = run_id;
  step_ = step;
  filter_ = filter;
  reload();
}

bool PromptTableModel::hasSource() const {
  return store_ && run_id_ > 0 && step_ > 0;
}

int PromptTableModel::readCount() const {
  return store_->promptCount(run_id_, step_, filter_);
}

QVector<r1::app::PromptSummary> PromptTableModel::readPage(int limit, int offset) const {
  return store_->prompts(run_id_, step_, filter_, limit, offset);
}

void PromptTableModel::readFailed(const QString& message) {
  emit loadFailed(message);
}

int PromptTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant PromptTableModel::data(const QModelIndex& index, int role) const {
  const r1::app::PromptSummary* summary = index.isValid() ? rowAt(index.row()) : nullptr;
  if (!summary) return {};
  const auto& p = *summary;
  if (role == PromptIndexRole) return p.prompt_index;
  if (role == Qt::ToolTipRole)
    return tr("Prompt %1: %2 of %3 completions correct, reward %4 ± %5%6\n\n%7")
        .arg(p.prompt_index)
        .arg(p.correct)
        .arg(p.completions)
        .arg(p.reward_mean, 0, 'f', 3)
        .arg(p.reward_std, 0, 'f', 3)
        .arg(p.zero_spread ? tr("\nEvery completion got the same reward: no advantage, nothing learned")
                           : QString())
        .arg(p.prompt);
  if (role == Qt::ForegroundRole && p.zero_spread) return QBrush(QColor(0x9a, 0x6a, 0x00));
  if (role == Qt::TextAlignmentRole && index.column() != PromptColumn)
    return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (index.column()) {
    case IndexColumn:
      return p.prompt_index;
    case PromptColumn:
      return oneLine(p.prompt);
    case RewardColumn:
      return QString::number(p.reward_mean, 'f', 3);
    case SpreadColumn:
      return p.zero_spread ? tr("zero") : QString::number(p.reward_std, 'f', 3);
    case CorrectColumn:
      return QStringLiteral("%1/%2").arg(p.correct).arg(p.completions);
    default:
      return {};
  }
}

QVariant PromptTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::ToolTipRole && section == SpreadColumn)
    return tr("Standard deviation of the group's rewards; \"zero\" when they are all equal");
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case IndexColumn:
      return tr("#");
    case PromptColumn:
      return tr("Prompt");
    case RewardColumn:
      return tr("Reward");
    case SpreadColumn:
      return tr("Std");
    case CorrectColumn:
      return tr("Correct");
    default:
      return {};
  }
}

const r1::app::PromptSummary* PromptTableModel::promptAt(int row) const {
  return rowAt(row);
}

}  // namespace r1::ui
