#pragma once
// The conversation list: the run store's conversations, newest first, fetched a page at a time.
#include <QAbstractListModel>

#include "core/chat_types.h"
#include "traces/paged_rows_model.h"

namespace r1::app {
class RunStore;
}

namespace r1::ui {

class ConversationModel : public PagedRowsModel<QAbstractListModel, r1::app::ConversationSummary> {
  Q_OBJECT

 public:
  enum Role { IdRole = Qt::UserRole + 1 };
  static constexpr int kPageSize = 100;

  // `store` may be null (no store could be opened): the list stays empty.
  explicit ConversationModel(r1::app::RunStore* store, QObject* parent = nullptr);

  QVariant data(const QModelIndex& index, int role) const override;

  int rowOf(qint64 id) const;  // -1 when not loaded
  qint64 idAt(int row) const;

 protected:
  bool hasSource() const override { return store_ != nullptr; }
  int readCount() const override;
  QVector<r1::app::ConversationSummary> readPage(int limit, int offset) const override;
  void readFailed(const QString&) override {}  // the list stays as far as it got; the chat goes on

 private:
  r1::app::RunStore* store_;
};

}  // namespace r1::ui
