#include "finetune_page.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonObject>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QVBoxLayout>

#include "core/run_store.h"
#include "finetune_form.h"
#include "metric_plots_panel.h"
#include "past_runs_panel.h"
#include "run_controls.h"
#include "run_series.h"

namespace r1::ui {
namespace {

constexpr int kLogLines = 5000;

QString runLabel(qint64 run_id) {
  return run_id > 0 ? FinetunePage::tr("run #%1").arg(run_id) : FinetunePage::tr("new run");
}

}  // namespace

FinetunePage::FinetunePage(const QString& store_path, QWidget* parent)
    : QWidget(parent), store_path_(store_path) {
  setObjectName(QStringLiteral("finetunePage"));
  QString store_error = store_path_.isEmpty() ? tr("no store is open") : QString();
  if (!store_path_.isEmpty()) {
    try {
      store_ = std::make_unique<r1::app::RunStore>(store_path_);
    } catch (const std::exception& e) {
      store_error = QString::fromUtf8(e.what());
    }
  }
  session_ = new r1::app::FinetuneSession(store_ ? store_path_ : QString(), this);

  plots_ = new MetricPlotsPanel(this);
  past_runs_ = new PastRunsPanel(this);
  log_ = new QPlainTextEdit(this);
  log_->setObjectName(QStringLiteral("finetuneLog"));
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(kLogLines);
  log_->setLineWrapMode(QPlainTextEdit::NoWrap);
  auto* lower_tabs = new QTabWidget(this);
  lower_tabs->addTab(past_runs_, tr("Past runs"));
  lower_tabs->addTab(log_, tr("Log"));

  auto* right = new QSplitter(Qt::Vertical, this);
  right->addWidget(plots_);
  right->addWidget(lower_tabs);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 1);
  right->setChildrenCollapsible(false);
  splitter_ = new QSplitter(Qt::Horizontal, this);
  splitter_->setObjectName(QStringLiteral("finetuneSplitter"));
  splitter_->addWidget(buildLeftColumn());
  splitter_->addWidget(right);
  splitter_->setStretchFactor(1, 1);
  splitter_->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->addWidget(splitter_);

  using Session = r1::app::FinetuneSession;
  connect(session_, &Session::stateChanged, controls_, &RunControls::setState);
  connect(session_, &Session::stateChanged, this,
          [this](Session::State state) { form_->setEnabled(state == Session::State::Idle); });
  connect(session_, &Session::runStarted, this, &FinetunePage::onRunStarted);
  connect(session_, &Session::stepMetrics, this, &FinetunePage::onStepMetrics);
  connect(session_, &Session::logLine, log_, &QPlainTextEdit::appendPlainText);
  connect(session_, &Session::finished, this, &FinetunePage::onFinished);
  connect(session_, &Session::failed, this, &FinetunePage::onFailed);
  connect(controls_->startButton(), &QPushButton::clicked, this, &FinetunePage::start);
  connect(controls_->pauseButton(), &QPushButton::clicked, session_, &Session::pause);
  connect(controls_->resumeButton(), &QPushButton::clicked, session_, &Session::resume);
  connect(controls_->stopButton(), &QPushButton::clicked, session_, &Session::stop);
  connect(past_runs_, &PastRunsPanel::openRequested, this, &FinetunePage::openRun);
  connect(past_runs_, &PastRunsPanel::overlayRequested, this, &FinetunePage::overlayRun);
  connect(past_runs_, &PastRunsPanel::clearOverlayRequested, plots_, &MetricPlotsPanel::clearOverlay);
  connect(plots_, &MetricPlotsPanel::statusMessage, this, &FinetunePage::statusMessage);

  past_runs_->setStore(store_.get(), store_error);
  controls_->setStatus(tr("Ready: the demo preset fine-tunes the built-in model on the CPU in minutes."));
}

FinetunePage::~FinetunePage() = default;

QWidget* FinetunePage::buildLeftColumn() {
  auto* left = new QWidget(this);
  auto* layout = new QVBoxLayout(left);
  layout->setContentsMargins(0, 0, 0, 0);
  form_ = new FinetuneForm(left);
  auto* scroll = new QScrollArea(left);
  scroll->setWidget(form_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumWidth(form_->sizeHint().width() + 24);
  layout->addWidget(scroll, 1);
  controls_ = new RunControls(left);
  layout->addWidget(controls_);
  return left;
}

QPushButton* FinetunePage::startButton() const {
  return controls_->startButton();
}
QPushButton* FinetunePage::pauseButton() const {
  return controls_->pauseButton();
}
QPushButton* FinetunePage::resumeButton() const {
  return controls_->resumeButton();
}
QPushButton* FinetunePage::stopButton() const {
  return controls_->stopButton();
}
QProgressBar* FinetunePage::progress() const {
  return controls_->progress();
}
bool FinetunePage::errorVisible() const {
  return controls_->errorVisible();
}
QString FinetunePage::errorText() const {
  return controls_->errorText();
}
QString FinetunePage::statusText() const {
  return controls_->statusText();
}
QString FinetunePage::logText() const {
  return log_->toPlainText();
}

bool FinetunePage::start() {
  if (session_->isActive()) return false;
  r1::app::FinetuneOptions options = form_->options();
  if (options.model_dir.isEmpty()) {
    controls_->showError(tr("Choose a model folder to fine-tune."));
    return false;
  }
  if (form_->checkpointsWanted()) options.out_dir = checkpointFolder();
  live_run_id_ = 0;
  controls_->beginRun(options.steps);
  plots_->setRun(RunSeries(0, runLabel(0)));
  log_->appendPlainText(tr("— %1: fine-tuning %2 —")
                            .arg(QDateTime::currentDateTime().toString(Qt::ISODate), options.model_dir));
  return session_->start(options);
}

QString FinetunePage::checkpointFolder() const {
  const QString base = store_path_.isEmpty()
                           ? QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                           : QFileInfo(store_path_).absolutePath();
  const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  return QDir(base).filePath(QStringLiteral("checkpoints/grpo-%1").arg(stamp));
}

void FinetunePage::onRunStarted(qint64 run_id) {
  live_run_id_ = run_id;
  plots_->setRunIdentity(run_id, runLabel(run_id));
  past_runs_->refresh();
  past_runs_->select(run_id);
}

void FinetunePage::onStepMetrics(const QJsonObject& metrics) {
  plots_->appendStep(live_run_id_, metrics);
  controls_->stepDone(metrics.value(QStringLiteral("step")).toInteger(),
                      metrics.value(QStringLiteral("step_s")).toDouble());
}

void FinetunePage::onFinished(const QString& status) {
  controls_->endRun(status);
  past_runs_->refresh();
  emit statusMessage(tr("Fine-tune %1: %2").arg(runLabel(live_run_id_), status));
}

void FinetunePage::onFailed(const QString& message) {
  controls_->failRun(message);
  past_runs_->refresh();
  emit statusMessage(tr("The fine-tune run failed"));
}

bool FinetunePage::openRun(qint64 run_id) {
  return loadRun(run_id, false);
}

bool FinetunePage::overlayRun(qint64 run_id) {
  return loadRun(run_id, true);
}

bool FinetunePage::loadRun(qint64 run_id, bool overlay) {
  if (!store_) return false;
  try {
    if (!store_->run(run_id)) return false;
    RunSeries series(run_id, runLabel(run_id));
    for (const r1::app::StepEntry& s : store_->steps(run_id)) {
      QJsonObject m = s.metrics;
      m.insert(QStringLiteral("step"), s.step);
      series.append(m);
    }
    if (overlay)
      plots_->setOverlay(series);
    else
      plots_->setRun(series);
    return true;
  } catch (const std::exception& e) {
    controls_->showError(tr("Could not read run %1: %2").arg(run_id).arg(QString::fromUtf8(e.what())));
    return false;
  }
}

}  // namespace r1::ui
