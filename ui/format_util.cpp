#include "format_util.h"

#include <QFile>
#include <QRegularExpression>

namespace r1::ui {

QString formatBytes(double bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  const int decimals = u == 0 ? 0 : (bytes < 10 ? 2 : (bytes < 100 ? 1 : 0));
  return QStringLiteral("%1 %2").arg(bytes, 0, 'f', decimals).arg(QLatin1String(units[u]));
}

QString formatCount(double count) {
  static const char* const suffix[] = {"", "K", "M", "B", "T"};
  int s = 0;
  while (count >= 1000.0 && s < 4) {
    count /= 1000.0;
    ++s;
  }
  const int decimals = s == 0 ? 0 : (count < 10 ? 2 : (count < 100 ? 1 : 0));
  return QStringLiteral("%1%2").arg(count, 0, 'f', decimals).arg(QLatin1String(suffix[s]));
}

qint64 availableSystemMemory() {
  QFile f(QStringLiteral("/proc/meminfo"));
  if (!f.open(QIODevice::ReadOnly)) return 0;
  static const QRegularExpression line(QStringLiteral("^MemAvailable:\\s+(\\d+)\\s+kB"),
                                       QRegularExpression::MultilineOption);
  const auto m = line.match(QString::fromLatin1(f.readAll()));
  return m.hasMatch() ? m.captured(1).toLongLong() * 1024 : 0;
}

}  // namespace r1::ui
