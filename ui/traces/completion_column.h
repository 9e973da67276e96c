#pragma once
// One completion of a group, as a column: a header (completion number and whether it is correct, the total
// reward and each function's, the advantage as a coloured badge, the length and a truncated mark), then the
// thinking (dimmed), the answer, and the tokens coloured one by one with their values on hover. A chat
// reply shows in the same column, text only.
#include <QFrame>

#include "token_colours.h"

class QLabel;
class QTextBrowser;

namespace r1::app {
struct ChatMessage;
struct RolloutEntry;
}  // namespace r1::app

namespace r1::ui {

class CompletionColumn : public QFrame {
  Q_OBJECT

 public:
  static constexpr int kWidth = 360;

  explicit CompletionColumn(QWidget* parent = nullptr);

  void showRollout(const r1::app::RolloutEntry& rollout, const TokenText& text, TokenColouring colouring,
                   double advantage_scale);
  void showReply(const r1::app::ChatMessage& reply);

  QLabel* titleLabel() const { return title_; }
  QLabel* rewardLabel() const { return reward_; }  // the total, then one line per reward function
  QLabel* advantageBadge() const { return badge_; }
  QColor badgeColour() const { return badge_colour_; }
  QLabel* lengthLabel() const { return length_; }
  QTextBrowser* thinkingView() const { return thinking_; }
  QTextBrowser* answerView() const { return answer_; }
  QTextBrowser* tokenView() const { return tokens_; }

 private:
  void setBadge(const QString& text, const QColor& colour);

  QLabel* title_ = nullptr;
  QLabel* reward_ = nullptr;
  QLabel* badge_ = nullptr;
  QLabel* length_ = nullptr;
  QLabel* tokens_caption_ = nullptr;
  QTextBrowser* thinking_ = nullptr;
  QTextBrowser* answer_ = nullptr;
  QTextBrowser* tokens_ = nullptr;
  QColor badge_colour_;
};

}  // namespace r1::ui
