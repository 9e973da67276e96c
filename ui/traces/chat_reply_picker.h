#pragma once
// "Open chat reply": a conversation, then one of its assistant replies, from the run store; picking a reply
// hands it on to be shown beside the training completions.
#include <QVector>
#include <QWidget>

#include "core/chat_types.h"

class QComboBox;

namespace r1::app {
class RunStore;
}

namespace r1::ui {

class ConversationModel;

class ChatReplyPicker : public QWidget {
  Q_OBJECT

 public:
  explicit ChatReplyPicker(QWidget* parent = nullptr);

  // `store` may be null: nothing to pick. Re-reads the conversations.
  void setStore(r1::app::RunStore* store);

  QComboBox* conversationPicker() const { return conversations_; }
  QComboBox* replyPicker() const { return replies_; }

 signals:
  // `title` names the conversation and the reply's place in it.
  void replyPicked(const QString& title, const r1::app::ChatMessage& reply);
  void loadFailed(const QString& message);

 private:
  void onConversationPicked(int index);
  void onReplyPicked(int index);

  r1::app::RunStore* store_ = nullptr;
  ConversationModel* model_ = nullptr;
  QComboBox* conversations_ = nullptr;
  QComboBox* replies_ = nullptr;
  QVector<r1::app::ChatMessage> shown_;  // the replies in replies_, in order
  QVector<QString> questions_;           // the user's message each of them answers
};

}  // namespace r1::ui
