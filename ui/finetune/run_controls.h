#pragma once
// The Fine-tune page's run controls: Start, Pause, Resume and Stop (enabled as the session's state allows),
// a progress bar with the time left (the mean step time so far times the steps to go), a status line and an
// error line for a run that failed.
#include <QWidget>

#include "core/finetune_session.h"

class QLabel;
class QProgressBar;
class QPushButton;

namespace r1::ui {

class RunControls : public QWidget {
  Q_OBJECT

 public:
  explicit RunControls(QWidget* parent = nullptr);

  QPushButton* startButton() const { return start_; }
  QPushButton* pauseButton() const { return pause_; }
  QPushButton* resumeButton() const { return resume_; }
  QPushButton* stopButton() const { return stop_; }
  QProgressBar* progress() const { return progress_; }
  QString statusText() const;
  QString errorText() const;
  bool errorVisible() const;
  qint64 lastStep() const { return last_step_; }

  void setState(r1::app::FinetuneSession::State state);
  void beginRun(int total_steps);
  void stepDone(qint64 step, double step_seconds);
  void endRun(const QString& status);  // "finished" or "cancelled"
  void failRun(const QString& message);
  void showError(const QString& message);
  void setStatus(const QString& text);

 private:
  QPushButton* start_ = nullptr;
  QPushButton* pause_ = nullptr;
  QPushButton* resume_ = nullptr;
  QPushButton* stop_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* error_ = nullptr;
  qint64 last_step_ = 0;
  int total_steps_ = 0;
  double step_seconds_ = 0;  // summed over this run's steps
  int timed_steps_ = 0;
};

// "42 s", "3 min 5 s", "2 h 10 min".
QString formatDuration(double seconds);

}  // namespace r1::ui
