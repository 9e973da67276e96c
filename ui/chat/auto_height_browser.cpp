#include "auto_height_browser.h"

#include <QAbstractTextDocumentLayout>
#include <QScrollBar>
#include <QWheelEvent>
#include <cmath>

namespace r1::ui {

AutoHeightBrowser::AutoHeightBrowser(QWidget* parent) : QTextBrowser(parent) {
  setFrameShape(QFrame::NoFrame);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
  setOpenExternalLinks(true);
  setFocusPolicy(Qt::ClickFocus);
  // Only the background role is set here, so text colours keep following the application palette.
  QPalette p = palette();
  p.setColor(QPalette::Base, Qt::transparent);
  setPalette(p);
  viewport()->setAutoFillBackground(false);
  document()->setDocumentMargin(2);
  connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
          &AutoHeightBrowser::fitHeight);
  fitHeight();
}

int AutoHeightBrowser::contentHeight() const {
  const QMargins m = contentsMargins();
  return int(std::ceil(document()->size().height())) + m.top() + m.bottom();
}

QSize AutoHeightBrowser::sizeHint() const {
  return {QTextBrowser::sizeHint().width(), contentHeight()};
}
QSize AutoHeightBrowser::minimumSizeHint() const {
  return {50, contentHeight()};
}

void AutoHeightBrowser::fitHeight() {
  const int h = contentHeight();
  if (h != height()) {
    setFixedHeight(h);
    updateGeometry();
  }
}

void AutoHeightBrowser::resizeEvent(QResizeEvent* event) {
  QTextBrowser::resizeEvent(event);
  fitHeight();
}

void AutoHeightBrowser::wheelEvent(QWheelEvent* event) {
  event->ignore();
}  // the transcript scrolls

}  // namespace r1::ui
