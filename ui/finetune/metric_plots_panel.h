#pragma once
// The Fine-tune page's plots: one MetricPlot per metric group in a grid, showing one run and, optionally,
// a second run overlaid in other colours. Steps arriving from a live run are appended to the run's full
// series; the plots are rebuilt from it at most five times a second (and only while on screen), decimated
// past kMaxPlotPoints. Exports each plot as PNG or PDF and the shown runs' metrics as CSV.
#include <QJsonObject>
#include <QTimer>
#include <QWidget>

#include "run_series.h"

class QCPGraph;
class QLabel;

namespace r1::ui {

class MetricPlot;

class MetricPlotsPanel : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMaxPlotPoints = 2000;
  static constexpr int kRefreshMs = 200;

  explicit MetricPlotsPanel(QWidget* parent = nullptr);

  void setRun(const RunSeries& run);
  void setOverlay(const RunSeries& run);
  void clearOverlay();
  // Names the shown run once its record exists (a live run's steps arrive under this id).
  void setRunIdentity(qint64 run_id, const QString& label);
  // Appends a step to the shown or overlaid run with this id; other runs' steps are ignored.
  void appendStep(qint64 run_id, const QJsonObject& metrics);

  const RunSeries& run() const { return run_; }
  const RunSeries& overlay() const { return overlay_; }
  bool hasOverlay() const { return has_overlay_; }
  const QVector<MetricPlot*>& plots() const { return plots_; }
  // The graph of metric `key` for the shown run (slot 0) or the overlay (slot 1); null when no plot has it.
  QCPGraph* graph(const QString& key, int slot = 0) const;

  // Files <dir>/<plot id>.<format>, format "png" or "pdf"; false with `error` set on failure.
  bool exportPlots(const QString& dir, const QString& format, QString* error = nullptr);
  bool exportCsv(const QString& path, QString* error = nullptr);
  void refreshNow();  // rebuild and replot the plots now

 signals:
  void statusMessage(const QString& message);

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void markDirty();
  void onTimer();
  void updateCaption();
  void askExportPlots(const QString& format);
  void askExportCsv();

  QVector<MetricPlot*> plots_;
  RunSeries run_, overlay_;
  bool has_overlay_ = false;
  bool dirty_ = false;
  QTimer timer_;
  QLabel* caption_ = nullptr;
};

}  // namespace r1::ui
