#pragma once
// The conversation list: the run store's conversations, newest first, fetched a page at a time.
#include <QAbstractListModel>

#include "core/chat_types.h"

namespace r1::app {
class RunStore;
}

namespace r1::ui {

class ConversationModel : public QAbstractListModel {
  Q_OBJECT

 public:
  enum Role { IdRole = Qt::UserRole + 1 };
  static constexpr int kPageSize = 100;

  // `store` may be null (no store could be opened): the list stays empty.
  explicit ConversationModel(r1::app::RunStore* store, QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  bool canFetchMore(const QModelIndex& parent) const override;
  void fetchMore(const QModelIndex& parent) override;

  void reload();
  int rowOf(qint64 id) const;  // -1 when not loaded
  qint64 idAt(int row) const;

 private:
  r1::app::RunStore* store_;
  QVector<r1::app::ConversationSummary> rows_;
  int total_ = 0;
};

}  // namespace r1::ui
