#pragma once
// What the workbench's QCustomPlot charts share: a bold title row, axes and titles in the palette's colours,
// category axes for horizontal bar charts, value labels beside bars, and a byte unit for an axis.
#include <QString>
#include <QStringList>

class QCPAxis;
class QCPItemText;
class QCPTextElement;
class QCustomPlot;
class QPalette;

namespace r1::ui {

// A unit for plotting byte counts: the value on the axis is bytes / scale.
struct ByteUnit {
  double scale;
  QString name;
};
ByteUnit byteUnitFor(double bytes);

// Inserts a bold title row above the axis rect; the title stays element (0, 0) of the plot's layout.
QCPTextElement* addPlotTitle(QCustomPlot* plot, const QString& title);

// Background, both axes (pens, tick labels, labels, dotted grid) and the title of element (0, 0), if any.
void applyPlotPalette(QCustomPlot* plot, const QPalette& palette);

// Makes `axis` a category axis: `names` at 1, 2, … with no grid and no ticks.
void setCategories(QCPAxis* axis, const QStringList& names);

// A text item for plot coordinates, left-aligned just right of the point it is placed at.
QCPItemText* barLabel(QCustomPlot* plot);

}  // namespace r1::ui
