#include "plot_style.h"

#include <qcustomplot.h>
#include <QPalette>

namespace r1::ui {

ByteUnit byteUnitFor(double bytes) {
  if (bytes >= double(1ll << 30)) return {double(1ll << 30), QStringLiteral("GiB")};
  if (bytes >= double(1 << 20)) return {double(1 << 20), QStringLiteral("MiB")};
  if (bytes >= 1024) return {1024, QStringLiteral("KiB")};
  return {1, QStringLiteral("B")};
}

QCPTextElement* addPlotTitle(QCustomPlot* plot, const QString& title) {
  plot->plotLayout()->insertRow(0);
  const QFont base = plot->font();
  auto* heading = new QCPTextElement(plot, title, QFont(base.family(), base.pointSize(), QFont::Bold));
  heading->setObjectName(QStringLiteral("title"));
  plot->plotLayout()->addElement(0, 0, heading);
  return heading;
}

void applyPlotPalette(QCustomPlot* plot, const QPalette& palette) {
  const QColor text = palette.color(QPalette::WindowText);
  plot->setBackground(palette.brush(QPalette::Base));
  for (QCPAxis* a : {plot->xAxis, plot->yAxis}) {
    a->setBasePen(QPen(text));
    a->setTickPen(QPen(text));
    a->setSubTickPen(QPen(text));
    a->setTickLabelColor(text);
    a->setLabelColor(text);
    a->grid()->setPen(QPen(palette.color(QPalette::Midlight), 0, Qt::DotLine));
  }
  if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0)))
    title->setTextColor(text);
}

void setCategories(QCPAxis* axis, const QStringList& names) {
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  for (int i = 0; i < names.size(); ++i) ticker->addTick(i + 1, names[i]);
  axis->setTicker(ticker);
  axis->setRange(0.4, names.size() + 0.6);
  axis->grid()->setVisible(false);
  axis->setTickLength(0, 0);
  axis->setSubTicks(false);
}

QCPItemText* barLabel(QCustomPlot* plot) {
  auto* label = new QCPItemText(plot);
  label->position->setType(QCPItemPosition::ptPlotCoords);
  label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
  label->setPadding(QMargins(6, 0, 0, 0));
  label->setClipToAxisRect(false);
  return label;
}

}  // namespace r1::ui
