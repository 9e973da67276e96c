#pragma once
// The Chat page: conversations from the run store on the left, the transcript with streaming replies and the
// composer in the middle, sampling settings on the right. Engine work goes through the ChatSession; this
// page only renders what its signals carry.
#include <QWidget>

#include "core/chat_types.h"

class QListView;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSplitter;

namespace r1::app {
class ChatSession;
class RunStore;
}  // namespace r1::app

namespace r1::ui {

class ChatSettingsPanel;
class ConversationModel;
class ReplyWidget;
class TranscriptView;
class UserMessageWidget;

class ChatPage : public QWidget {
  Q_OBJECT

 public:
  // `store` (GUI thread's connection) may be null: conversations are then not listed or kept.
  ChatPage(r1::app::ChatSession* session, r1::app::RunStore* store, QWidget* parent = nullptr);

  // Sends `text` as the user's next message; false when it cannot be sent now (no model, busy, empty).
  bool sendMessage(const QString& text);
  void stop();
  void regenerate();
  void newConversation();
  void openConversation(qint64 id);
  void setModelReady(bool ready);
  void setHourlyPrice(double dollars);  // kept in the settings; every reply's cost line follows

  qint64 conversationId() const { return conversation_id_; }
  const QVector<r1::app::ChatMessage>& messages() const { return messages_; }
  ReplyWidget* lastReply() const;
  QList<ReplyWidget*> replies() const;
  QPlainTextEdit* composer() const { return composer_; }
  QProgressBar* contextBar() const { return context_bar_; }
  QSplitter* splitter() const { return splitter_; }
  ChatSettingsPanel* settingsPanel() const { return settings_; }
  QListView* conversationList() const { return list_; }

 signals:
  void statusMessage(const QString& message);

 private:
  void sendFromComposer();
  void startReply(int persist_from);
  void editAndResend(UserMessageWidget* widget, const QString& text);
  void onTextDelta(quint64 request_id, r1::app::ReplyPhase phase, const QString& text);
  void onStats(quint64 request_id, const r1::app::ReplyStats& stats);
  void onReplyFinished(quint64 request_id, const r1::app::ChatMessage& reply);
  void onReplyFailed(quint64 request_id, const QString& message);
  void onKvChanged(const r1::app::KvSnapshot& kv);
  void onConversationActivated();
  void showConversationMenu(const QPoint& pos);
  void updateButtons();
  UserMessageWidget* addUserEntry(const QString& text);
  ReplyWidget* addReplyEntry();
  void selectConversationRow();

  r1::app::ChatSession* session_;
  r1::app::RunStore* store_;
  ConversationModel* conversations_;
  QListView* list_;
  TranscriptView* transcript_;
  QPlainTextEdit* composer_;
  QPushButton* send_;
  QPushButton* stop_;
  QProgressBar* context_bar_;
  ChatSettingsPanel* settings_;
  QSplitter* splitter_;

  qint64 conversation_id_ = 0;
  QVector<r1::app::ChatMessage> messages_;
  quint64 active_request_ = 0;
  ReplyWidget* active_reply_ = nullptr;
  bool model_ready_ = false;
  double hourly_price_ = 1.0;
};

}  // namespace r1::ui
