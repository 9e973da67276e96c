#pragma once
// Light and dark palettes (Fusion style, so they look the same everywhere) and the application icon.
#include <QIcon>

class QApplication;

namespace r1::ui {

void applyPalette(QApplication& app, bool dark);
// Names (for QSettings and the data folder), version, icon and the saved palette.
void initApplication(QApplication& app);
QIcon appIcon();

}  // namespace r1::ui
