#pragma once
// One live plot of the Fine-tune page: a group of metrics against the step (reward mean with its ±std band,
// the clip fractions, ...) for the shown run and, in other colours, the run overlaid on it. The runs' data
// stay in their RunSeries; refresh() hands the plot a decimated copy when a run has more points than the
// plot should draw.
#include <QString>
#include <QVector>

#include <qcustomplot.h>

namespace r1::ui {

class RunSeries;

struct MetricLine {
  QString key;  // the metric's name in a step's metrics
  QString label;
};

struct MetricGroup {
  QString id;  // names the exported file
  QString title;
  QVector<MetricLine> lines;
  QString band_std;  // the first line is drawn with a ±(this metric) band; empty: no band
};

// The page's plots, in display order.
QVector<MetricGroup> fineTuneMetricGroups();

class MetricPlot : public QCustomPlot {
  Q_OBJECT

 public:
  static constexpr int kSlots = 2;  // 0: the shown run, 1: the overlaid run

  MetricPlot(const MetricGroup& group, QWidget* parent = nullptr);

  const MetricGroup& group() const { return group_; }
  // The run drawn in `slot` (null: none). The series must outlive the plot or be replaced first.
  void setRun(int slot, const RunSeries* series);
  // Rebuilds the graphs from the runs (at most max_points per line), rescales and queues a replot.
  void refresh(int max_points);
  QCPGraph* metricGraph(int slot, const QString& key) const;
  void applyColors();

 protected:
  void changeEvent(QEvent* event) override;

 private:
  struct SlotGraphs {
    QVector<QCPGraph*> lines;  // one per group line
    QCPGraph* band_upper = nullptr;
    QCPGraph* band_lower = nullptr;
  };

  void updateLegend(const QVector<QCPGraph*>& named);
  void fitRanges(const QVector<QCPGraph*>& drawn);

  MetricGroup group_;
  SlotGraphs graphs_[kSlots];
  const RunSeries* runs_[kSlots] = {};
  QCPTextElement* title_ = nullptr;
  bool legend_shown_ = false;
};

}  // namespace r1::ui
