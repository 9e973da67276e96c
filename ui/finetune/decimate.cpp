#include "decimate.h"

#include <algorithm>
#include <cmath>

namespace r1::ui {

PlotPoints decimate(const QVector<double>& keys, const QVector<double>& values, int max_points) {
  const qsizetype n = std::min(keys.size(), values.size());
  PlotPoints out;
  if (n <= max_points || max_points < 2) {
    out.keys = keys.mid(0, n);
    out.values = values.mid(0, n);
    return out;
  }
  const qsizetype buckets = max_points / 2;
  out.keys.reserve(buckets * 2);
  out.values.reserve(buckets * 2);
  for (qsizetype b = 0; b < buckets; ++b) {
    const qsizetype begin = b * n / buckets, end = (b + 1) * n / buckets;
    qsizetype lo = -1, hi = -1;
    for (qsizetype i = begin; i < end; ++i) {
      if (std::isnan(values[i])) continue;
      if (lo < 0 || values[i] < values[lo]) lo = i;
      if (hi < 0 || values[i] > values[hi]) hi = i;
    }
    if (lo < 0) {
      out.keys << keys[begin];
      out.values << values[begin];
      continue;
    }
    const qsizetype first = std::min(lo, hi), second = std::max(lo, hi);
    out.keys << keys[first];
    out.values << values[first];
    if (second != first) {
      out.keys << keys[second];
      out.values << values[second];
    }
  }
  return out;
}

}  // namespace r1::ui
