#pragma once
// A step's prompts that pass the filter, read from the run store a page at a time as the table scrolls: the
// prompt, its group's mean reward and spread, how many completions are correct, and whether the rewards
// are all equal (a group GRPO learns nothing from).
#include <QAbstractTableModel>

#include "core/run_store.h"
#include "paged_rows_model.h"

namespace r1::ui {

class PromptTableModel : public PagedRowsModel<QAbstractTableModel, r1::app::PromptSummary> {
  Q_OBJECT

 public:
  enum Column { IndexColumn, PromptColumn, RewardColumn, SpreadColumn, CorrectColumn, ColumnCount };
  enum Role { PromptIndexRole = Qt::UserRole + 1 };
  static constexpr int kPageSize = 200;

  explicit PromptTableModel(QObject* parent = nullptr);

  // `store` may be null: the table is then empty. Loads the first page.
  void setQuery(r1::app::RunStore* store, qint64 run_id, qint64 step, const r1::app::PromptFilter& filter);

  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

  qint64 runId() const { return run_id_; }
  qint64 step() const { return step_; }
  const r1::app::PromptFilter& filter() const { return filter_; }
  const r1::app::PromptSummary* promptAt(int row) const;

 signals:
  void loadFailed(const QString& message);

 protected:
  bool hasSource() const override;
  int readCount() const override;
  QVector<r1::app::PromptSummary> readPage(int limit, int offset) const override;
  void readFailed(const QString& message) override;

 private:
  r1::app::RunStore* store_ = nullptr;
  qint64 run_id_ = 0;
  qint64 step_ = 0;
  r1::app::PromptFilter filter_;
};

}  // namespace r1::ui
