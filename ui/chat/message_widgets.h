#pragma once
// The transcript's two kinds of entry: the user's message (with Edit and resend) and the model's reply
// (thinking block, answer with code blocks, per-reply stats with what a million tokens costs at this speed).
#include <QFrame>
#include <memory>

#include "core/chat_types.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QToolButton;

namespace r1::ui {

class AutoHeightBrowser;
class StreamingDocument;
class ThinkingBlock;

class UserMessageWidget : public QFrame {
  Q_OBJECT

 public:
  explicit UserMessageWidget(const QString& text, QWidget* parent = nullptr);
  QString text() const { return text_; }
  void setEditable(bool editable);
  void beginEdit();

 signals:
  void editSubmitted(const QString& text);

 private:
  void submitEdit();
  void cancelEdit();

  QString text_;
  AutoHeightBrowser* view_;
  QWidget* edit_page_;
  QPlainTextEdit* editor_;
  QToolButton* edit_button_;
};

class ReplyWidget : public QFrame {
  Q_OBJECT

 public:
  explicit ReplyWidget(QWidget* parent = nullptr);
  ~ReplyWidget() override;

  // Streaming: text arrives in pieces tagged thinking or answer; stats come every few dozen milliseconds.
  void startStreaming();
  void appendText(r1::app::ReplyPhase phase, const QString& text);
  void setLiveStats(const r1::app::ReplyStats& stats);
  void finish(const r1::app::ChatMessage& reply);
  void fail(const QString& message);
  // A finished reply read back from the store.
  void showStored(const r1::app::ChatMessage& reply);

  void setHourlyPrice(double dollars_per_hour);
  void setRegenerateVisible(bool visible);

  bool isStreaming() const { return streaming_; }
  ThinkingBlock* thinkingBlock() const { return thinking_; }
  QString answerText() const;
  QString statsText() const;
  QString costText() const;

 signals:
  void regenerateRequested();

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void renderStats();
  void applyColors();

  ThinkingBlock* thinking_;
  AutoHeightBrowser* answer_;
  QLabel* stats_label_;
  QLabel* cost_label_;
  QLabel* error_;
  QToolButton* regenerate_;
  std::unique_ptr<StreamingDocument> answer_text_;
  r1::app::ReplyStats stats_;
  double hourly_price_ = 1.0;
  bool streaming_ = false;
  bool saw_thinking_ = false;
};

}  // namespace r1::ui
