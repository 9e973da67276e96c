#pragma once
// The run store: one SQLite file holding conversations and their messages (answers, reasoning and
// per-reply stats). A RunStore is one connection, usable only in the thread that opened it; every thread that
// reads or writes opens its own. Every write is one transaction. The schema is versioned (PRAGMA
// user_version) and upgraded in place when an older file is opened.
#include <QString>
#include <QThread>
#include <QVector>
#include <optional>
#include <stdexcept>

#include "chat_types.h"

namespace r1::app {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RunStore {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens the file at `path`, creating it (and its folder) when absent. Throws StoreError naming the file.
  explicit RunStore(const QString& path);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const QString& path() const { return path_; }
  int schemaVersion() const;

  qint64 createConversation(const QString& title, const QString& model);
  void renameConversation(qint64 id, const QString& title);
  void deleteConversation(qint64 id);  // its messages go with it
  // Most recently updated first; `offset` and `limit` page through a long list.
  QVector<ConversationSummary> conversations(int limit = 1000, int offset = 0) const;
  int conversationCount() const;
  std::optional<ConversationSummary> conversation(qint64 id) const;

  QVector<ChatMessage> messages(qint64 conversation_id) const;
  // Drops the conversation's messages from `position` on and writes `messages` there, in one transaction.
  // Returns the new messages' ids in order.
  QVector<qint64> replaceMessagesFrom(qint64 conversation_id, int position,
                                      const QVector<ChatMessage>& messages);
  qint64 appendMessage(qint64 conversation_id, const ChatMessage& message);
  int messageCount(qint64 conversation_id) const;

 private:
  void checkThread() const;
  void migrate();

  QString path_;
  QString connection_;
  QThread* owner_ = nullptr;
};

// Where the GUI and the CLI keep their store unless told otherwise (R1WB_STORE overrides it).
QString defaultStorePath();

}  // namespace r1::app
