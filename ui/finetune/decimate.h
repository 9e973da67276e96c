#pragma once
// What a plot is handed of a long series: at most about `max_points` points, each bucket of consecutive
// points kept as its minimum and its maximum (in step order), so spikes stay visible however long the run.
#include <QVector>

namespace r1::ui {

struct PlotPoints {
  QVector<double> keys, values;
};

// keys ascending; a series of at most max_points comes back whole. NaN values (gaps) are skipped inside a
// bucket; a bucket of only NaN keeps one NaN so the gap still shows.
PlotPoints decimate(const QVector<double>& keys, const QVector<double>& values, int max_points);

}  // namespace r1::ui
