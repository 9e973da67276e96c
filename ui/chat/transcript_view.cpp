#include "transcript_view.h"

#include <QLabel>
#include <QScrollBar>
#include <QVBoxLayout>

namespace r1::ui {

TranscriptView::TranscriptView(QWidget* parent) : QScrollArea(parent) {
  setObjectName(QStringLiteral("transcript"));
  setWidgetResizable(true);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setFrameShape(QFrame::NoFrame);
  column_ = new QWidget(this);
  column_->setBackgroundRole(QPalette::Base);
  column_->setAutoFillBackground(true);
  layout_ = new QVBoxLayout(column_);
  layout_->setContentsMargins(16, 12, 16, 12);
  layout_->setSpacing(10);
  auto* hint = new QLabel(column_);
  hint->setAlignment(Qt::AlignCenter);
  hint->setForegroundRole(QPalette::PlaceholderText);
  hint->setWordWrap(true);
  placeholder_ = hint;
  layout_->addWidget(placeholder_);
  layout_->addStretch(1);
  setWidget(column_);
  connect(verticalScrollBar(), &QScrollBar::rangeChanged, this, &TranscriptView::onRangeChanged);
  connect(verticalScrollBar(), &QScrollBar::valueChanged, this, &TranscriptView::onValueChanged);
}

void TranscriptView::setPlaceholder(const QString& text) {
  static_cast<QLabel*>(placeholder_)->setText(text);
}

int TranscriptView::entryCount() const {
  return layout_->count() - 2;
}  // the placeholder and the stretch

QWidget* TranscriptView::entryAt(int index) const {
  if (index < 0 || index >= entryCount()) return nullptr;
  return layout_->itemAt(index + 1)->widget();
}

void TranscriptView::addEntry(QWidget* entry) {
  placeholder_->hide();
  layout_->insertWidget(layout_->count() - 1, entry);
  follow_ = true;
}

void TranscriptView::removeEntriesFrom(int index) {
  while (entryCount() > index) {
    QLayoutItem* item = layout_->takeAt(index + 1);
    if (QWidget* w = item->widget()) w->deleteLater();
    delete item;
  }
  placeholder_->setVisible(entryCount() == 0);
}

void TranscriptView::clear() {
  removeEntriesFrom(0);
}

void TranscriptView::scrollToBottom() {
  follow_ = true;
  verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

void TranscriptView::onRangeChanged(int, int max) {
  if (follow_) verticalScrollBar()->setValue(max);
}

void TranscriptView::onValueChanged(int value) {
  // Within a few pixels of the end counts as the end: the user did not scroll away.
  follow_ = value >= verticalScrollBar()->maximum() - 4;
}

}  // namespace r1::ui
