#include "conversation_model.h"

#include <QDateTime>

#include "core/run_store.h"

namespace r1::ui {

ConversationModel::ConversationModel(r1::app::RunStore* store, QObject* parent)
    : PagedRowsModel(kPageSize, parent), store_(store) {
  reload();
}

QVariant ConversationModel::data(const QModelIndex& index, int role) const {
  const r1::app::ConversationSummary* summary = index.isValid() ? rowAt(index.row()) : nullptr;
  if (!summary) return {};
  const auto& c = *summary;
  switch (role) {
    case Qt::DisplayRole:
      return c.title.isEmpty() ? tr("Untitled") : c.title;
    case Qt::ToolTipRole:
      return tr("%1\n%2 messages · %3 · last %4")
          .arg(c.title)
          .arg(c.message_count)
          .arg(c.model.isEmpty() ? tr("no model") : c.model,
               QDateTime::fromMSecsSinceEpoch(c.updated_ms).toString(QStringLiteral("yyyy-MM-dd hh:mm")));
    case IdRole:
      return c.id;
    default:
      return {};
  }
}

int ConversationModel::readCount() const {
  return store_->conversationCount();
}

QVector<r1::app::ConversationSummary> ConversationModel::readPage(int limit, int offset) const {
  return store_->conversations(limit, offset);
}

int ConversationModel::rowOf(qint64 id) const {
  for (int i = 0; i < rows().size(); ++i)
    if (rows()[i].id == id) return i;
  return -1;
}

qint64 ConversationModel::idAt(int row) const {
  const r1::app::ConversationSummary* summary = rowAt(row);
  return summary ? summary->id : 0;
}

}  // namespace r1::ui
