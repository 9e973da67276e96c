#pragma once
// A prompt's group side by side: one CompletionColumn per completion in a horizontally scrolling row, the
// prompt above. A chat reply shows here too, as a single column.
#include <QScrollArea>
#include <QVector>

#include "core/run_store.h"
#include "token_colours.h"
#include "token_text.h"

class QHBoxLayout;
class QLabel;

namespace r1::ui {

class CompletionColumn;

class CompletionView : public QWidget {
  Q_OBJECT

 public:
  explicit CompletionView(QWidget* parent = nullptr);

  void showGroup(const QString& title, const QVector<r1::app::RolloutEntry>& rollouts);
  void showReply(const QString& title, const r1::app::ChatMessage& reply);
  void clear(const QString& message = {});
  // Both re-colour what is shown.
  void setColouring(TokenColouring colouring);
  void setTokenText(const TokenText& text);

  TokenColouring colouring() const { return colouring_; }
  int columnCount() const { return shown_; }
  CompletionColumn* column(int i) const;  // null outside 0..columnCount()-1
  QLabel* titleLabel() const { return title_; }
  QScrollArea* scrollArea() const { return scroll_; }

 private:
  CompletionColumn* columnAt(int i);  // created on first use, kept for the next group
  void setShown(int count);
  void renderGroup();

  QLabel* title_ = nullptr;
  QScrollArea* scroll_ = nullptr;
  QHBoxLayout* row_ = nullptr;
  QVector<CompletionColumn*> columns_;
  QVector<r1::app::RolloutEntry> rollouts_;
  TokenText text_;
  TokenColouring colouring_ = TokenColouring::LogProbability;
  int shown_ = 0;
};

}  // namespace r1::ui
