#pragma once
// A run's steps in order, read from the run store a page at a time as the list scrolls, each with its
// headline metrics.
#include <QAbstractListModel>

#include "core/run_store.h"
#include "paged_rows_model.h"

namespace r1::ui {

class StepListModel : public PagedRowsModel<QAbstractListModel, r1::app::StepEntry> {
  Q_OBJECT

 public:
  enum Role { StepRole = Qt::UserRole + 1 };
  static constexpr int kPageSize = 200;

  explicit StepListModel(QObject* parent = nullptr);

  // `store` may be null: the list is then empty. Loads the first page.
  void setRun(r1::app::RunStore* store, qint64 run_id);

  QVariant data(const QModelIndex& index, int role) const override;

  qint64 runId() const { return run_id_; }
  qint64 stepAt(int row) const;  // 0 outside the loaded rows

 signals:
  void loadFailed(const QString& message);

 protected:
  bool hasSource() const override;
  int readCount() const override;
  QVector<r1::app::StepEntry> readPage(int limit, int offset) const override;
  void readFailed(const QString& message) override;

 private:
  r1::app::RunStore* store_ = nullptr;
  qint64 run_id_ = 0;
};

}  // namespace r1::ui
