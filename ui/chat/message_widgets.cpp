#include "message_widgets.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "auto_height_browser.h"
#include "core/app_settings.h"
#include "streaming_document.h"
#include "thinking_block.h"

namespace r1::ui {
namespace {

void makeMuted(QLabel* label) {
  QFont f = label->font();
  f.setPointSizeF(f.pointSizeF() * 0.9);
  label->setFont(f);
  label->setForegroundRole(QPalette::PlaceholderText);
  label->setWordWrap(true);
  label->setTextInteractionFlags(Qt::TextSelectableByMouse);
}

QString stopReasonText(const QString& reason) {
  if (reason == QLatin1String("eos")) return ReplyWidget::tr("end of turn");
  if (reason == QLatin1String("max_tokens")) return ReplyWidget::tr("max tokens");
  if (reason == QLatin1String("context_full")) return ReplyWidget::tr("context full");
  if (reason == QLatin1String("cancelled")) return ReplyWidget::tr("stopped");
  if (reason == QLatin1String("stop_string")) return ReplyWidget::tr("stop string");
  return reason;
}

QString money(double dollars) {
  return dollars >= 100 ? QStringLiteral("$%1").arg(dollars, 0, 'f', 0)
                        : QStringLiteral("$%1").arg(dollars, 0, 'f', 2);
}

RenderColors colorsFor(const QPalette& p) {
  RenderColors c;
  c.text = p.color(QPalette::PlaceholderText);
  c.code_background = p.color(QPalette::AlternateBase);
  return c;
}

}  // namespace

UserMessageWidget::UserMessageWidget(const QString& text, QWidget* parent) : QFrame(parent), text_(text) {
  setObjectName(QStringLiteral("userMessage"));
  setBackgroundRole(QPalette::AlternateBase);
  setAutoFillBackground(true);
  setFrameShape(QFrame::StyledPanel);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(10, 6, 6, 6);
  auto* column = new QVBoxLayout;
  view_ = new AutoHeightBrowser(this);
  view_->setPlainText(text);
  column->addWidget(view_);
  edit_page_ = new QWidget(this);
  auto* edit_layout = new QVBoxLayout(edit_page_);
  edit_layout->setContentsMargins(0, 0, 0, 0);
  editor_ = new QPlainTextEdit(edit_page_);
  editor_->setObjectName(QStringLiteral("editor"));
  editor_->setTabChangesFocus(true);
  edit_layout->addWidget(editor_);
  auto* buttons = new QHBoxLayout;
  buttons->addStretch();
  auto* cancel = new QPushButton(tr("Cancel"), edit_page_);
  auto* resend = new QPushButton(tr("Send edited"), edit_page_);
  resend->setObjectName(QStringLiteral("resend"));
  resend->setDefault(true);
  buttons->addWidget(cancel);
  buttons->addWidget(resend);
  edit_layout->addLayout(buttons);
  edit_page_->hide();
  column->addWidget(edit_page_);
  layout->addLayout(column, 1);
  edit_button_ = new QToolButton(this);
  edit_button_->setObjectName(QStringLiteral("edit"));
  edit_button_->setText(tr("Edit"));
  edit_button_->setToolTip(tr("Edit this message and send it again; the replies after it are replaced"));
  edit_button_->setAutoRaise(true);
  layout->addWidget(edit_button_, 0, Qt::AlignTop);
  connect(edit_button_, &QToolButton::clicked, this, &UserMessageWidget::beginEdit);
  connect(resend, &QPushButton::clicked, this, &UserMessageWidget::submitEdit);
  connect(cancel, &QPushButton::clicked, this, &UserMessageWidget::cancelEdit);
}

void UserMessageWidget::setEditable(bool editable) {
  edit_button_->setEnabled(editable);
}

void UserMessageWidget::beginEdit() {
  editor_->setPlainText(text_);
  editor_->setFixedHeight(std::clamp(view_->height() + 24, 70, 240));
  view_->hide();
  edit_page_->show();
  edit_button_->hide();
  editor_->setFocus();
}

void UserMessageWidget::cancelEdit() {
  edit_page_->hide();
  view_->show();
  edit_button_->show();
}

void UserMessageWidget::submitEdit() {
  const QString edited = editor_->toPlainText().trimmed();
  if (edited.isEmpty()) return;
  cancelEdit();
  text_ = edited;
  view_->setPlainText(edited);
  emit editSubmitted(edited);
}

ReplyWidget::ReplyWidget(QWidget* parent) : QFrame(parent) {
  setObjectName(QStringLiteral("reply"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 8);
  layout->setSpacing(4);
  thinking_ = new ThinkingBlock(this);
  thinking_->hide();
  layout->addWidget(thinking_);
  answer_ = new AutoHeightBrowser(this);
  answer_->setObjectName(QStringLiteral("answer"));
  layout->addWidget(answer_);
  error_ = new QLabel(this);
  error_->setObjectName(QStringLiteral("replyError"));
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->setStyleSheet(QStringLiteral("color: #d04040;"));
  error_->hide();
  layout->addWidget(error_);
  auto* footer = new QHBoxLayout;
  auto* labels = new QVBoxLayout;
  stats_label_ = new QLabel(this);
  stats_label_->setObjectName(QStringLiteral("stats"));
  cost_label_ = new QLabel(this);
  cost_label_->setObjectName(QStringLiteral("cost"));
  makeMuted(stats_label_);
  makeMuted(cost_label_);
  labels->addWidget(stats_label_);
  labels->addWidget(cost_label_);
  footer->addLayout(labels, 1);
  regenerate_ = new QToolButton(this);
  regenerate_->setObjectName(QStringLiteral("regenerate"));
  regenerate_->setText(tr("Regenerate"));
  regenerate_->setToolTip(tr("Generate this reply again with a fresh seed"));
  regenerate_->setAutoRaise(true);
  regenerate_->hide();
  footer->addWidget(regenerate_, 0, Qt::AlignTop);
  layout->addLayout(footer);
  connect(regenerate_, &QToolButton::clicked, this, &ReplyWidget::regenerateRequested);
  answer_text_ = std::make_unique<StreamingDocument>(answer_->document(), StreamingDocument::Mode::Markdown);
  applyColors();
  answer_->hide();
}

ReplyWidget::~ReplyWidget() = default;

QString ReplyWidget::answerText() const {
  return answer_text_->text();
}

void ReplyWidget::applyColors() {
  answer_text_->setColors(colorsFor(palette()));
}

void ReplyWidget::startStreaming() {
  streaming_ = true;
  stats_label_->setText(tr("Waiting for the first token…"));
  cost_label_->clear();
}

void ReplyWidget::appendText(r1::app::ReplyPhase phase, const QString& text) {
  if (phase == r1::app::ReplyPhase::Thinking) {
    if (!saw_thinking_) {
      saw_thinking_ = true;
      thinking_->startLive();
    }
    thinking_->appendText(text);
    return;
  }
  if (thinking_->isLive() && !text.trimmed().isEmpty()) thinking_->finish(thinking_->liveSeconds());
  answer_text_->append(text);
  answer_text_->flush();
  if (!answer_->isVisible() && !answer_text_->text().trimmed().isEmpty()) answer_->show();
}

void ReplyWidget::setLiveStats(const r1::app::ReplyStats& stats) {
  stats_ = stats;
  renderStats();
}

void ReplyWidget::finish(const r1::app::ChatMessage& reply) {
  streaming_ = false;
  stats_ = reply.stats;
  if (answer_text_->text() != reply.content) answer_text_->setText(reply.content);
  answer_->setVisible(!reply.content.trimmed().isEmpty());
  if (!reply.reasoning.isEmpty() || saw_thinking_) {
    if (!saw_thinking_) thinking_->setStoredText(reply.reasoning, reply.stats.thinking_seconds);
    thinking_->finish(reply.stats.thinking_seconds);
    thinking_->show();
  }
  renderStats();
}

void ReplyWidget::fail(const QString& message) {
  streaming_ = false;
  if (thinking_->isLive()) thinking_->finish(thinking_->liveSeconds());
  error_->setText(message);
  error_->show();
  stats_.stop_reason = QStringLiteral("error");
  stats_label_->clear();
  cost_label_->clear();
}

void ReplyWidget::showStored(const r1::app::ChatMessage& reply) {
  saw_thinking_ = false;
  if (!reply.reasoning.isEmpty()) {
    thinking_->setStoredText(reply.reasoning, reply.stats.thinking_seconds);
    thinking_->show();
  }
  finish(reply);
}

void ReplyWidget::setHourlyPrice(double dollars_per_hour) {
  hourly_price_ = dollars_per_hour;
  renderStats();
}

void ReplyWidget::setRegenerateVisible(bool visible) {
  regenerate_->setVisible(visible);
}

QString ReplyWidget::statsText() const {
  return stats_label_->text();
}
QString ReplyWidget::costText() const {
  return cost_label_->text();
}

void ReplyWidget::renderStats() {
  const r1::app::ReplyStats& s = stats_;
  if (s.completion_tokens == 0 && !s.finished()) return;
  QStringList parts;
  parts << (s.thinking_tokens > 0
                ? tr("%1 tokens (%2 thinking)").arg(s.completion_tokens).arg(s.thinking_tokens)
                : tr("%1 tokens").arg(s.completion_tokens));
  if (s.tokens_per_second > 0) parts << tr("%1 tok/s").arg(s.tokens_per_second, 0, 'f', 1);
  if (s.first_token_seconds > 0) {
    const double ms = s.first_token_seconds * 1000.0;
    parts << (ms < 1000 ? tr("first token %1 ms").arg(ms, 0, 'f', ms < 10 ? 1 : 0)
                        : tr("first token %1 s").arg(s.first_token_seconds, 0, 'f', 2));
  }
  parts << (s.finished() ? tr("stop: %1").arg(stopReasonText(s.stop_reason)) : tr("generating…"));
  if (s.context_max > 0) parts << tr("context %1 / %2").arg(s.context_used).arg(s.context_max);
  if (s.dropped_messages > 0) parts << tr("%n earlier message(s) left out", nullptr, int(s.dropped_messages));
  stats_label_->setText(parts.join(QStringLiteral(" · ")));
  const double per_million = r1::app::costPerMillionTokens(s.tokens_per_second, hourly_price_);
  if (per_million > 0)
    cost_label_->setText(tr("%1 per million tokens at this speed on this machine (%2/h) · o1 %3 · R1 %4")
                             .arg(money(per_million), money(hourly_price_),
                                  money(r1::app::kO1DollarsPerMillion),
                                  money(r1::app::kR1DollarsPerMillion)));
}

void ReplyWidget::changeEvent(QEvent* event) {
  QFrame::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && answer_text_) applyColors();
}

}  // namespace r1::ui
