#pragma once
// The training runs held in the run store, newest first: id, start, status, steps, task and model. Open shows
// a run's steps in the plots; Overlay draws a second run over the shown one.
#include <QWidget>

class QLabel;
class QPushButton;
class QTreeWidget;

namespace r1::app {
class RunStore;
}

namespace r1::ui {

class PastRunsPanel : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMaxRuns = 500;

  explicit PastRunsPanel(QWidget* parent = nullptr);

  // The store to list (null: none, with `error` shown instead).
  void setStore(r1::app::RunStore* store, const QString& error = {});
  void refresh();  // reads the list again, keeping the selection
  QTreeWidget* list() const { return list_; }
  qint64 selectedRunId() const;  // 0 when none
  bool select(qint64 run_id);

 signals:
  void openRequested(qint64 run_id);
  void overlayRequested(qint64 run_id);
  void clearOverlayRequested();

 private:
  void updateButtons();

  r1::app::RunStore* store_ = nullptr;
  QTreeWidget* list_ = nullptr;
  QLabel* message_ = nullptr;
  QPushButton* open_ = nullptr;
  QPushButton* overlay_ = nullptr;
};

}  // namespace r1::ui
