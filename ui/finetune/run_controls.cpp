#include "run_controls.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>

namespace r1::ui {

using State = r1::app::FinetuneSession::State;

QString formatDuration(double seconds) {
  const qint64 s = qint64(std::max(seconds, 0.0) + 0.5);
  if (s < 60) return RunControls::tr("%1 s").arg(s);
  if (s < 3600) return RunControls::tr("%1 min %2 s").arg(s / 60).arg(s % 60);
  return RunControls::tr("%1 h %2 min").arg(s / 3600).arg(s / 60 % 60);
}

RunControls::RunControls(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("runControls"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* buttons = new QHBoxLayout;
  start_ = new QPushButton(tr("Start"), this);
  start_->setObjectName(QStringLiteral("startRun"));
  start_->setDefault(true);
  pause_ = new QPushButton(tr("Pause"), this);
  pause_->setObjectName(QStringLiteral("pauseRun"));
  pause_->setToolTip(tr("Pause after the step in progress"));
  resume_ = new QPushButton(tr("Resume"), this);
  resume_->setObjectName(QStringLiteral("resumeRun"));
  stop_ = new QPushButton(tr("Stop"), this);
  stop_->setObjectName(QStringLiteral("stopRun"));
  stop_->setToolTip(tr("End the run after the step in progress; the store keeps it as cancelled"));
  for (QPushButton* b : {start_, pause_, resume_, stop_}) buttons->addWidget(b);
  layout->addLayout(buttons);
  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("finetuneProgress"));
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setFormat(tr("No run"));
  layout->addWidget(progress_);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("finetuneStatus"));
  status_->setWordWrap(true);
  layout->addWidget(status_);
  error_ = new QLabel(this);
  error_->setObjectName(QStringLiteral("finetuneError"));
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->setAutoFillBackground(true);
  error_->setMargin(6);
  QPalette pal = error_->palette();
  pal.setColor(QPalette::Window, QColor(0xb3, 0x3a, 0x3a));
  pal.setColor(QPalette::WindowText, Qt::white);
  error_->setPalette(pal);
  error_->hide();
  layout->addWidget(error_);
  setState(State::Idle);
}

QString RunControls::statusText() const {
  return status_->text();
}
QString RunControls::errorText() const {
  return error_->text();
}
bool RunControls::errorVisible() const {
  return error_->isVisibleTo(this);
}

void RunControls::setState(State state) {
  start_->setEnabled(state == State::Idle);
  pause_->setEnabled(state == State::Running);
  resume_->setEnabled(state == State::Pausing || state == State::Paused);
  stop_->setEnabled(state == State::Running || state == State::Pausing || state == State::Paused);
  switch (state) {
    case State::Idle:
      break;
    case State::Running:
      setStatus(last_step_ > 0 ? tr("Running: step %1 done").arg(last_step_)
                               : tr("Loading the model and planning memory…"));
      break;
    case State::Pausing:
      setStatus(tr("Pausing after the step in progress…"));
      break;
    case State::Paused:
      setStatus(tr("Paused after step %1").arg(last_step_));
      break;
    case State::Stopping:
      setStatus(tr("Stopping after the step in progress…"));
      break;
  }
}

void RunControls::beginRun(int total_steps) {
  error_->hide();
  last_step_ = 0;
  total_steps_ = total_steps;
  step_seconds_ = 0;
  timed_steps_ = 0;
  progress_->setRange(0, std::max(total_steps_, 1));
  progress_->setValue(0);
  progress_->setFormat(tr("Loading the model…"));
}

void RunControls::stepDone(qint64 step, double step_seconds) {
  last_step_ = step;
  step_seconds_ += step_seconds;
  ++timed_steps_;
  progress_->setValue(int(std::min<qint64>(step, total_steps_)));
  const double mean = step_seconds_ / timed_steps_;
  const qint64 left = std::max<qint64>(0, total_steps_ - step);
  progress_->setFormat(left > 0 ? tr("Step %1 of %2 · about %3 left (%4 per step)")
                                      .arg(step)
                                      .arg(total_steps_)
                                      .arg(formatDuration(mean * double(left)), formatDuration(mean))
                                : tr("Step %1 of %2").arg(step).arg(total_steps_));
  if (pause_->isEnabled()) setStatus(tr("Running: step %1 done").arg(step));
}

void RunControls::endRun(const QString& status) {
  const bool cancelled = status == QLatin1String("cancelled");
  setStatus(cancelled ? tr("Stopped after step %1; the run is kept as cancelled.").arg(last_step_)
                      : tr("Finished %1 steps.").arg(last_step_));
  progress_->setFormat(cancelled ? tr("Stopped at step %1 of %2").arg(last_step_).arg(total_steps_)
                                 : tr("Finished: %1 steps").arg(last_step_));
}

void RunControls::failRun(const QString& message) {
  showError(tr("The run failed: %1").arg(message));
  setStatus(tr("Change the settings and start again."));
  progress_->setFormat(tr("Failed"));
}

void RunControls::showError(const QString& message) {
  error_->setText(message);
  error_->show();
}

void RunControls::setStatus(const QString& text) {
  status_->setText(text);
}

}  // namespace r1::ui
