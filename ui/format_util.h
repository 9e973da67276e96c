#pragma once
// Numbers as people read them: bytes in KiB/MiB/GiB, large counts with a K/M/B suffix.
#include <QString>

namespace r1::ui {

QString formatBytes(double bytes);
QString formatCount(double count);

// Bytes of memory the system can still give out (Linux MemAvailable); 0 when unknown.
qint64 availableSystemMemory();

}  // namespace r1::ui
