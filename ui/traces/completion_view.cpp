#include "completion_view.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "completion_column.h"

namespace r1::ui {

CompletionView::CompletionView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("completionView"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  title_ = new QLabel(this);
  title_->setObjectName(QStringLiteral("completionViewTitle"));
  title_->setWordWrap(true);
  title_->setTextFormat(Qt::PlainText);
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(title_);
  scroll_ = new QScrollArea(this);
  scroll_->setWidgetResizable(true);
  scroll_->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);  // each column scrolls its own text
  auto* strip = new QWidget(scroll_);
  row_ = new QHBoxLayout(strip);
  row_->setContentsMargins(0, 0, 0, 0);
  row_->addStretch(1);
  scroll_->setWidget(strip);
  layout->addWidget(scroll_, 1);
  clear();
}

CompletionColumn* CompletionView::column(int i) const {
  return i >= 0 && i < shown_ ? columns_[i] : nullptr;
}

CompletionColumn* CompletionView::columnAt(int i) {
  while (columns_.size() <= i) {
    auto* c = new CompletionColumn(scroll_->widget());
    row_->insertWidget(int(columns_.size()), c);  // before the stretch
    columns_.push_back(c);
  }
  return columns_[i];
}

void CompletionView::setShown(int count) {
  shown_ = count;
  for (int i = 0; i < columns_.size(); ++i) columns_[i]->setVisible(i < count);
}

void CompletionView::showGroup(const QString& title, const QVector<r1::app::RolloutEntry>& rollouts) {
  title_->setText(title);
  rollouts_ = rollouts;
  renderGroup();
}

void CompletionView::renderGroup() {
  double scale = 0;  // the group's largest advantage shows fully saturated
  for (const auto& r : rollouts_)
    if (!std::isnan(r.advantage)) scale = std::max(scale, std::abs(r.advantage));
  for (int i = 0; i < rollouts_.size(); ++i) columnAt(i)->showRollout(rollouts_[i], text_, colouring_, scale);
  setShown(int(rollouts_.size()));
}

void CompletionView::showReply(const QString& title, const r1::app::ChatMessage& reply) {
  title_->setText(title);
  rollouts_.clear();
  columnAt(0)->showReply(reply);
  setShown(1);
}

void CompletionView::clear(const QString& message) {
  rollouts_.clear();
  title_->setText(message.isEmpty() ? tr("Pick a prompt to see its completions side by side.") : message);
  setShown(0);
}

void CompletionView::setColouring(TokenColouring colouring) {
  colouring_ = colouring;
  if (!rollouts_.isEmpty()) renderGroup();
}

void CompletionView::setTokenText(const TokenText& text) {
  text_ = text;
  if (!rollouts_.isEmpty()) renderGroup();
}

}  // namespace r1::ui
