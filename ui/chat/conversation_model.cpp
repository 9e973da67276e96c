#include "conversation_model.h"

#include <QDateTime>

#include "core/run_store.h"

namespace r1::ui {

ConversationModel::ConversationModel(r1::app::RunStore* store, QObject* parent)
    : QAbstractListModel(parent), store_(store) {
  reload();
}

int ConversationModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(rows_.size());
}

QVariant ConversationModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rows_.size()) return {};
  const auto& c = rows_[index.row()];
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

bool ConversationModel::canFetchMore(const QModelIndex& parent) const {
  return !parent.isValid() && store_ && rows_.size() < total_;
}

void ConversationModel::fetchMore(const QModelIndex& parent) {
  if (!canFetchMore(parent)) return;
  try {
    const auto page = store_->conversations(kPageSize, int(rows_.size()));
    if (page.isEmpty()) {
      total_ = int(rows_.size());
      return;
    }
    beginInsertRows({}, int(rows_.size()), int(rows_.size() + page.size()) - 1);
    rows_ += page;
    endInsertRows();
  } catch (const std::exception&) {
    total_ = int(rows_.size());
  }
}

void ConversationModel::reload() {
  beginResetModel();
  rows_.clear();
  total_ = 0;
  if (store_) {
    try {
      total_ = store_->conversationCount();
      rows_ = store_->conversations(kPageSize, 0);
    } catch (const std::exception&) {
      rows_.clear();
      total_ = 0;
    }
  }
  endResetModel();
}

int ConversationModel::rowOf(qint64 id) const {
  for (int i = 0; i < rows_.size(); ++i)
    if (rows_[i].id == id) return i;
  return -1;
}

qint64 ConversationModel::idAt(int row) const {
  return row >= 0 && row < rows_.size() ? rows_[row].id : 0;
}

}  // namespace r1::ui
