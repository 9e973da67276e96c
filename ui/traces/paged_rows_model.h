#pragma once
// The rows of a list or table model read from the run store a page at a time as the view scrolls (Qt's
// canFetchMore/fetchMore). A model says whether it has a source, how many rows there are and how to read a
// page; this holds the rows and does the paging. Reading errors never leave a half-read model: a failed
// reload leaves it empty, a failed page stops the paging where it is.
#include <QString>
#include <QVector>
#include <exception>

namespace r1::ui {

template <typename Base, typename Row>
class PagedRowsModel : public Base {
 public:
  int rowCount(const QModelIndex& parent = {}) const override {
    return parent.isValid() ? 0 : int(rows_.size());
  }

  bool canFetchMore(const QModelIndex& parent) const override {
    return !parent.isValid() && hasSource() && rows_.size() < total_;
  }

  void fetchMore(const QModelIndex& parent) override {
    if (!canFetchMore(parent)) return;
    try {
      const QVector<Row> page = readPage(page_size_, int(rows_.size()));
      if (page.isEmpty()) {
        total_ = int(rows_.size());
        return;
      }
      this->beginInsertRows({}, int(rows_.size()), int(rows_.size() + page.size()) - 1);
      rows_ += page;
      this->endInsertRows();
    } catch (const std::exception& e) {
      total_ = int(rows_.size());
      readFailed(QString::fromUtf8(e.what()));
    }
  }

  // Reads the count and the first page again.
  void reload() {
    this->beginResetModel();
    rows_.clear();
    total_ = 0;
    QString failure;
    if (hasSource()) {
      try {
        total_ = readCount();
        rows_ = readPage(page_size_, 0);
      } catch (const std::exception& e) {
        rows_.clear();
        total_ = 0;
        failure = QString::fromUtf8(e.what());
      }
    }
    this->endResetModel();
    if (!failure.isEmpty()) readFailed(failure);
  }

  int totalCount() const { return total_; }  // rows in the source, loaded or not

 protected:
  PagedRowsModel(int page_size, QObject* parent) : Base(parent), page_size_(page_size) {}

  virtual bool hasSource() const = 0;  // false: the model stays empty and reads nothing
  // Both may throw std::exception; the message goes to readFailed().
  virtual int readCount() const = 0;
  virtual QVector<Row> readPage(int limit, int offset) const = 0;
  virtual void readFailed(const QString& message) = 0;

  const QVector<Row>& rows() const { return rows_; }
  const Row* rowAt(int row) const { return row >= 0 && row < rows_.size() ? &rows_[row] : nullptr; }

 private:
  int page_size_;
  QVector<Row> rows_;
  int total_ = 0;
};

}  // namespace r1::ui
