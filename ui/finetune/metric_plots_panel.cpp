#include "metric_plots_panel.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSaveFile>
#include <QVBoxLayout>

#include "metric_plot.h"

namespace r1::ui {
namespace {

constexpr int kColumns = 3;

}  // namespace

MetricPlotsPanel::MetricPlotsPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("metricPlots"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* bar = new QHBoxLayout;
  caption_ = new QLabel(this);
  caption_->setObjectName(QStringLiteral("plotsCaption"));
  bar->addWidget(caption_, 1);
  auto* png = new QPushButton(tr("Save plots as PNG…"), this);
  png->setObjectName(QStringLiteral("exportPng"));
  auto* pdf = new QPushButton(tr("Save plots as PDF…"), this);
  pdf->setObjectName(QStringLiteral("exportPdf"));
  auto* csv = new QPushButton(tr("Save data as CSV…"), this);
  csv->setObjectName(QStringLiteral("exportCsv"));
  for (QPushButton* b : {png, pdf, csv}) bar->addWidget(b);
  layout->addLayout(bar);
  connect(png, &QPushButton::clicked, this, [this] { askExportPlots(QStringLiteral("png")); });
  connect(pdf, &QPushButton::clicked, this, [this] { askExportPlots(QStringLiteral("pdf")); });
  connect(csv, &QPushButton::clicked, this, &MetricPlotsPanel::askExportCsv);

  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  const QVector<MetricGroup> groups = fineTuneMetricGroups();
  for (int i = 0; i < groups.size(); ++i) {
    auto* plot = new MetricPlot(groups[i], this);
    plot->setRun(0, &run_);
    grid->addWidget(plot, i / kColumns, i % kColumns);
    plots_ << plot;
  }
  layout->addLayout(grid, 1);
  updateCaption();

  timer_.setInterval(kRefreshMs);
  connect(&timer_, &QTimer::timeout, this, &MetricPlotsPanel::onTimer);
  timer_.start();
}

void MetricPlotsPanel::setRun(const RunSeries& run) {
  run_ = run;
  markDirty();
}

void MetricPlotsPanel::setOverlay(const RunSeries& run) {
  overlay_ = run;
  has_overlay_ = true;
  for (MetricPlot* p : plots_) p->setRun(1, &overlay_);
  markDirty();
}

void MetricPlotsPanel::clearOverlay() {
  overlay_ = RunSeries();
  has_overlay_ = false;
  for (MetricPlot* p : plots_) p->setRun(1, nullptr);
  markDirty();
}

void MetricPlotsPanel::setRunIdentity(qint64 run_id, const QString& label) {
  run_.setRunId(run_id);
  run_.setLabel(label);
  markDirty();
}

void MetricPlotsPanel::appendStep(qint64 run_id, const QJsonObject& metrics) {
  if (run_.runId() == run_id) run_.append(metrics);
  if (has_overlay_ && overlay_.runId() == run_id) overlay_.append(metrics);
  markDirty();
}

QCPGraph* MetricPlotsPanel::graph(const QString& key, int slot) const {
  for (MetricPlot* p : plots_)
    if (QCPGraph* g = p->metricGraph(slot, key)) return g;
  return nullptr;
}

void MetricPlotsPanel::markDirty() {
  dirty_ = true;
  updateCaption();
}

void MetricPlotsPanel::updateCaption() {
  QString text =
      run_.label().isEmpty() ? tr("No run shown") : tr("%1 · %2 steps").arg(run_.label()).arg(run_.size());
  if (has_overlay_)
    text += tr("   overlaid (dashed): %1 · %2 steps").arg(overlay_.label()).arg(overlay_.size());
  if (caption_->text() != text) caption_->setText(text);
}

void MetricPlotsPanel::onTimer() {
  if (dirty_ && isVisible()) refreshNow();
}

void MetricPlotsPanel::refreshNow() {
  dirty_ = false;
  for (MetricPlot* p : plots_) p->refresh(kMaxPlotPoints);
}

void MetricPlotsPanel::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (dirty_) refreshNow();
}

bool MetricPlotsPanel::exportPlots(const QString& dir, const QString& format, QString* error) {
  if (!QDir().mkpath(dir)) {
    if (error) *error = tr("cannot create %1").arg(dir);
    return false;
  }
  refreshNow();
  for (MetricPlot* p : plots_) {
    p->replot(QCustomPlot::rpImmediateRefresh);
    const QString path = QDir(dir).filePath(p->group().id + QLatin1Char('.') + format);
    const bool ok = format == QLatin1String("pdf") ? p->savePdf(path) : p->savePng(path, 0, 0, 2.0);
    if (!ok) {
      if (error) *error = tr("cannot write %1").arg(path);
      return false;
    }
  }
  return true;
}

bool MetricPlotsPanel::exportCsv(const QString& path, QString* error) {
  QVector<const RunSeries*> runs{&run_};
  if (has_overlay_) runs << &overlay_;
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Text) || file.write(metricsCsv(runs).toUtf8()) < 0 ||
      !file.commit()) {
    if (error) *error = tr("cannot write %1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

void MetricPlotsPanel::askExportPlots(const QString& format) {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Save the plots in a folder"));
  if (dir.isEmpty()) return;
  QString error;
  if (exportPlots(dir, format, &error))
    emit statusMessage(tr("Saved %1 plots in %2").arg(plots_.size()).arg(dir));
  else
    emit statusMessage(tr("Could not save the plots: %1").arg(error));
}

void MetricPlotsPanel::askExportCsv() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Save the metrics"),
                                                    QStringLiteral("metrics.csv"), tr("CSV (*.csv)"));
  if (path.isEmpty()) return;
  QString error;
  if (exportCsv(path, &error))
    emit statusMessage(tr("Saved the metrics in %1").arg(path));
  else
    emit statusMessage(tr("Could not save the metrics: %1").arg(error));
}

}  // namespace r1::ui
