#pragma once
// Every step's metrics of one run, kept in full (a long run's plots are decimated for display, never its
// data): one column of doubles per metric name, aligned with the step numbers. A metric a step lacks is NaN.
#include <QJsonObject>
#include <QMap>
#include <QString>
#include <QStringList>
#include <QVector>

namespace r1::ui {

class RunSeries {
 public:
  RunSeries() = default;
  RunSeries(qint64 run_id, QString label) : run_id_(run_id), label_(std::move(label)) {}

  qint64 runId() const { return run_id_; }
  void setRunId(qint64 id) { run_id_ = id; }
  const QString& label() const { return label_; }
  void setLabel(const QString& label) { label_ = label; }

  // A step's metrics (numbers under their names, "step" among them). A step at or before the last one
  // held replaces the steps from it on, as the store does for a resumed run.
  void append(const QJsonObject& metrics);
  void clear();

  int size() const { return int(steps_.size()); }
  bool isEmpty() const { return steps_.isEmpty(); }
  const QVector<double>& steps() const { return steps_; }
  // The metric's values, one per step; an empty vector when no step has it.
  const QVector<double>& column(const QString& name) const;
  QStringList names() const { return columns_.keys(); }  // sorted, "step" left out

 private:
  qint64 run_id_ = 0;
  QString label_;
  QVector<double> steps_;
  QMap<QString, QVector<double>> columns_;
};

// Rows "run_id,step,<metric>..." for every step of every run, with the union of their metric names (sorted)
// as the header; a metric a run lacks is an empty cell.
QString metricsCsv(const QVector<const RunSeries*>& runs);

}  // namespace r1::ui
