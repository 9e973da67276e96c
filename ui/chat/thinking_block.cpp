#include "thinking_block.h"

#include <QEvent>
#include <QFrame>
#include <QHBoxLayout>
#include <QVBoxLayout>

#include "auto_height_browser.h"
#include "streaming_document.h"

namespace r1::ui {

QString thoughtForText(double seconds) {
  if (seconds < 0.1)
    return ThinkingBlock::tr("Thought for %1 ms").arg(seconds * 1000.0, 0, 'f', seconds < 0.01 ? 1 : 0);
  return ThinkingBlock::tr("Thought for %1 s").arg(seconds, 0, 'f', seconds < 1.0 ? 2 : 1);
}

ThinkingBlock::ThinkingBlock(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  header_ = new QToolButton(this);
  header_->setObjectName(QStringLiteral("thinkingHeader"));
  header_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  header_->setAutoRaise(true);
  header_->setCheckable(true);
  header_->setArrowType(Qt::RightArrow);
  header_->setCursor(Qt::PointingHandCursor);
  layout->addWidget(header_);

  // The thought sits indented behind a thin rule, in a muted italic, so it never reads as the answer.
  body_row_ = new QWidget(this);
  auto* row = new QHBoxLayout(body_row_);
  row->setContentsMargins(8, 0, 0, 0);
  row->setSpacing(8);
  auto* rule = new QFrame(body_row_);
  rule->setFrameShape(QFrame::VLine);
  rule->setFrameShadow(QFrame::Plain);
  rule->setForegroundRole(QPalette::Mid);
  row->addWidget(rule);
  body_ = new AutoHeightBrowser(body_row_);
  body_->setObjectName(QStringLiteral("thinkingBody"));
  QFont f = body_->font();
  f.setItalic(true);
  body_->setFont(f);
  row->addWidget(body_, 1);
  text_ = std::make_unique<StreamingDocument>(body_->document(), StreamingDocument::Mode::Plain);
  layout->addWidget(body_row_);
  applyMutedText();
  connect(header_, &QToolButton::toggled, this, &ThinkingBlock::setExpanded);
  tick_.setInterval(100);
  connect(&tick_, &QTimer::timeout, this, &ThinkingBlock::updateLiveHeader);
  setExpanded(false);
}

ThinkingBlock::~ThinkingBlock() = default;

void ThinkingBlock::startLive() {
  live_ = true;
  since_start_.start();
  tick_.start();
  updateLiveHeader();
  setExpanded(true);
  show();
}

void ThinkingBlock::updateLiveHeader() {
  header_->setText(tr("Thinking… %1 s").arg(double(since_start_.elapsed()) / 1000.0, 0, 'f', 1));
}

void ThinkingBlock::appendText(const QString& text) {
  text_->append(text);
  text_->flush();
}

void ThinkingBlock::finish(double seconds) {
  live_ = false;
  tick_.stop();
  header_->setText(thoughtForText(seconds));
  setExpanded(false);
}

void ThinkingBlock::setStoredText(const QString& text, double seconds) {
  text_->setText(text);
  finish(seconds);
}

bool ThinkingBlock::isExpanded() const {
  return body_row_->isVisibleTo(this);
}

void ThinkingBlock::applyMutedText() {
  QPalette p = body_->palette();
  p.setColor(QPalette::Text, palette().color(QPalette::PlaceholderText));
  body_->setPalette(p);
}

void ThinkingBlock::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && body_) applyMutedText();
}

void ThinkingBlock::setExpanded(bool expanded) {
  header_->blockSignals(true);
  header_->setChecked(expanded);
  header_->blockSignals(false);
  header_->setArrowType(expanded ? Qt::DownArrow : Qt::RightArrow);
  body_row_->setVisible(expanded);
}

QString ThinkingBlock::text() const {
  return text_->text();
}

}  // namespace r1::ui
