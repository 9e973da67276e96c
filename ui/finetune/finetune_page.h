#pragma once
// The Fine-tune page: a GRPO run's form, Start / Pause / Resume / Stop, a progress bar with the time left,
// live plots of the run's metrics, the run's log, and the runs kept in the run store (reopen one, or overlay
// a second on the shown one). The run itself goes on in a FinetuneSession's worker thread; the page only
// draws what it reports.
#include <QWidget>
#include <memory>

#include "core/finetune_session.h"

class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSplitter;
class QTabWidget;

namespace r1::app {
class RunStore;
}

namespace r1::ui {

class FinetuneForm;
class MetricPlotsPanel;
class PastRunsPanel;
class RunControls;

class FinetunePage : public QWidget {
  Q_OBJECT

 public:
  // Runs are recorded in, and past runs read from, the run store at `store_path`.
  explicit FinetunePage(const QString& store_path, QWidget* parent = nullptr);
  ~FinetunePage() override;

  r1::app::FinetuneSession* session() const { return session_; }
  FinetuneForm* form() const { return form_; }
  MetricPlotsPanel* plots() const { return plots_; }
  PastRunsPanel* pastRuns() const { return past_runs_; }
  RunControls* controls() const { return controls_; }
  QPushButton* startButton() const;
  QPushButton* pauseButton() const;
  QPushButton* resumeButton() const;
  QPushButton* stopButton() const;
  QProgressBar* progress() const;
  QSplitter* splitter() const { return splitter_; }
  bool errorVisible() const;
  QString errorText() const;
  QString statusText() const;
  QString logText() const;

  // Starts a run from the form; false (with the reason shown) when it cannot start.
  bool start();
  // Shows a stored run's steps in the plots, or overlays them on the shown run; false when the store lacks
  // it.
  bool openRun(qint64 run_id);
  bool overlayRun(qint64 run_id);

 signals:
  void statusMessage(const QString& message);

 private:
  QWidget* buildLeftColumn();
  void onRunStarted(qint64 run_id);
  void onStepMetrics(const QJsonObject& metrics);
  void onFinished(const QString& status);
  void onFailed(const QString& message);
  bool loadRun(qint64 run_id, bool overlay);
  QString checkpointFolder() const;

  QString store_path_;
  std::unique_ptr<r1::app::RunStore> store_;
  r1::app::FinetuneSession* session_ = nullptr;
  FinetuneForm* form_ = nullptr;
  RunControls* controls_ = nullptr;
  MetricPlotsPanel* plots_ = nullptr;
  PastRunsPanel* past_runs_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
  QSplitter* splitter_ = nullptr;
  qint64 live_run_id_ = 0;
};

}  // namespace r1::ui
