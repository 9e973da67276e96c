#include "run_series.h"

#include <QSet>
#include <algorithm>
#include <cmath>
#include <limits>

namespace r1::ui {
namespace {

const QString kStep = QStringLiteral("step");

}  // namespace

void RunSeries::append(const QJsonObject& metrics) {
  const double step = metrics.value(kStep).toDouble(double(steps_.size() + 1));
  const auto from = std::lower_bound(steps_.begin(), steps_.end(), step);
  const qsizetype keep = from - steps_.begin();
  if (keep < steps_.size()) {
    steps_.resize(keep);
    for (QVector<double>& c : columns_) c.resize(keep);
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    if (it.key() != kStep && it.value().isDouble() && !columns_.contains(it.key()))
      columns_.insert(it.key(), {});
  }
  steps_.push_back(step);
  // Every column stays one value per step: earlier steps lacking a new metric, and this step lacking an old
  // one, hold NaN.
  for (auto it = columns_.begin(); it != columns_.end(); ++it) {
    const QJsonValue v = metrics.value(it.key());
    it->resize(keep, nan);
    it->push_back(v.isDouble() ? v.toDouble() : nan);
  }
}

void RunSeries::clear() {
  steps_.clear();
  columns_.clear();
}

const QVector<double>& RunSeries::column(const QString& name) const {
  static const QVector<double> kEmpty;
  const auto it = columns_.constFind(name);
  return it == columns_.constEnd() ? kEmpty : *it;
}

QString metricsCsv(const QVector<const RunSeries*>& runs) {
  QSet<QString> all;
  for (const RunSeries* r : runs)
    for (const QString& n : r->names()) all.insert(n);
  QStringList names(all.begin(), all.end());
  std::sort(names.begin(), names.end());
  QString out = QStringLiteral("run_id,step");
  for (const QString& n : names) out += QLatin1Char(',') + n;
  out += QLatin1Char('\n');
  for (const RunSeries* r : runs) {
    for (int i = 0; i < r->size(); ++i) {
      out += QString::number(r->runId()) + QLatin1Char(',') + QString::number(qint64(r->steps()[i]));
      for (const QString& n : names) {
        const QVector<double>& c = r->column(n);
        out += QLatin1Char(',');
        if (i < c.size() && std::isfinite(c[i])) out += QString::number(c[i], 'g', 17);
      }
      out += QLatin1Char('\n');
    }
  }
  return out;
}

}  // namespace r1::ui
