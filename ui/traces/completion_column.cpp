#include "completion_column.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <cmath>

#include "core/chat_types.h"
#include "core/run_store.h"

namespace r1::ui {
namespace {

QString signedNumber(double value) {
  return std::isnan(value) ? QStringLiteral("NaN")
                           : QStringLiteral("%1%2").arg(value > 0 ? "+" : "").arg(value, 0, 'f', 2);
}

QLabel* caption(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  QFont font = label->font();
  font.setBold(true);
  label->setFont(font);
  return label;
}

QTextBrowser* textView(const QString& name, QWidget* parent) {
  auto* view = new QTextBrowser(parent);
  view->setObjectName(name);
  view->setOpenLinks(false);
  view->setFrameShape(QFrame::StyledPanel);
  return view;
}

}  // namespace

CompletionColumn::CompletionColumn(QWidget* parent) : QFrame(parent) {
  setObjectName(QStringLiteral("completionColumn"));
  setFrameShape(QFrame::StyledPanel);
  setFixedWidth(kWidth);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  auto* top = new QHBoxLayout;
  title_ = new QLabel(this);
  title_->setObjectName(QStringLiteral("completionTitle"));
  badge_ = new QLabel(this);
  badge_->setObjectName(QStringLiteral("advantageBadge"));
  badge_->setToolTip(tr("Advantage: the completion's reward against its group's, as GRPO weighs it"));
  top->addWidget(title_, 1);
  top->addWidget(badge_);
  layout->addLayout(top);
  reward_ = new QLabel(this);
  reward_->setObjectName(QStringLiteral("completionReward"));
  reward_->setTextFormat(Qt::PlainText);
  layout->addWidget(reward_);
  length_ = new QLabel(this);
  length_->setObjectName(QStringLiteral("completionLength"));
  layout->addWidget(length_);

  layout->addWidget(caption(tr("Thinking"), this));
  thinking_ = textView(QStringLiteral("thinkingView"), this);
  QPalette dim = thinking_->palette();
  dim.setColor(QPalette::Text, dim.color(QPalette::PlaceholderText));
  thinking_->setPalette(dim);
  QFont italic = thinking_->font();
  italic.setItalic(true);
  thinking_->setFont(italic);
  layout->addWidget(thinking_, 3);
  layout->addWidget(caption(tr("Answer"), this));
  answer_ = textView(QStringLiteral("answerView"), this);
  layout->addWidget(answer_, 1);
  tokens_caption_ = caption(tr("Tokens"), this);
  layout->addWidget(tokens_caption_);
  tokens_ = textView(QStringLiteral("tokenView"), this);
  layout->addWidget(tokens_, 3);
}

void CompletionColumn::showRollout(const r1::app::RolloutEntry& rollout, const TokenText& text,
                                   TokenColouring colouring, double advantage_scale) {
  const bool correct = r1::app::isCorrect(rollout.rewards);
  title_->setText(
      tr("Completion %1  %2").arg(rollout.group_index + 1).arg(correct ? tr("✓ correct") : tr("✗")));
  QStringList lines{tr("reward %1").arg(rollout.reward, 0, 'f', 2)};
  for (auto it = rollout.rewards.begin(); it != rollout.rewards.end(); ++it)
    lines << QStringLiteral("  %1 %2").arg(it.key()).arg(it.value().toDouble(), 0, 'f', 2);
  reward_->setText(lines.join(QLatin1Char('\n')));
  setBadge(tr("A %1").arg(signedNumber(rollout.advantage)),
           advantageColour(rollout.advantage, advantage_scale));
  length_->setText(tr("%n token(s)", nullptr, int(rollout.tokens.size())) +
                   (rollout.truncated ? tr("  ·  ⚠ truncated") : QString()));
  length_->setToolTip(rollout.truncated ? tr("Generation stopped at the length limit, not at end of text")
                                        : QString());
  thinking_->setPlainText(rollout.thinking);
  answer_->setPlainText(rollout.answer);
  tokens_caption_->setVisible(true);
  tokens_->setVisible(true);
  writeTokens(tokens_->document(), rollout, text, colouring, advantage_scale);
}

void CompletionColumn::showReply(const r1::app::ChatMessage& reply) {
  title_->setText(tr("Chat reply"));
  const auto& s = reply.stats;
  reward_->setText(s.model.isEmpty() ? tr("no reward: a chat reply")
                                     : tr("no reward: a chat reply of %1").arg(s.model));
  setBadge({}, {});
  length_->setText(tr("%n token(s)", nullptr, int(s.completion_tokens)) +
                   (s.stop_reason == QStringLiteral("max_tokens") ? tr("  ·  ⚠ truncated") : QString()));
  length_->setToolTip({});
  thinking_->setPlainText(reply.reasoning);
  answer_->setPlainText(reply.content);
  tokens_->clear();
  tokens_caption_->setVisible(false);  // a chat reply keeps no per-token data
  tokens_->setVisible(false);
}

void CompletionColumn::setBadge(const QString& text, const QColor& colour) {
  badge_colour_ = colour;
  badge_->setText(text);
  badge_->setVisible(!text.isEmpty());
  badge_->setStyleSheet(colour.isValid()
                            ? QStringLiteral("QLabel { background: %1; color: black; border-radius: 4px;"
                                             " padding: 1px 6px; }")
                                  .arg(colour.name())
                            : QString());
}

}  // namespace r1::ui
