#pragma once
// The chat session's worker: lives on the session's thread and owns everything of the engine (model,
// tokenizer, runtime, generator) and its own run store connection. Only ChatSession talks to it.
#include <QElapsedTimer>
#include <QObject>
#include <atomic>
#include <memory>
#include <vector>

#include "chat_types.h"
#include "engine/runtime/generator.h"
#include "engine/tokenizer/tokenizer.h"
#include "run_store.h"

namespace r1::app {

class ChatWorker : public QObject {
  Q_OBJECT

 public:
  ChatWorker(QString store_path, std::shared_ptr<const std::atomic<quint64>> stopped_upto,
             std::shared_ptr<const std::atomic<quint64>> cancelled_upto);
  ~ChatWorker() override;

  void load(quint64 load_id, const QString& dir, const QString& device);
  void generate(const r1::app::ChatRequest& request);

 signals:
  void loadProgress(double fraction, const QString& stage);
  void modelLoaded(const r1::app::ModelInfo& info);
  void loadFailed(const QString& dir, const QString& message);
  void loadCancelled(const QString& dir);
  void replyStarted(quint64 request_id);
  void textDelta(quint64 request_id, r1::app::ReplyPhase phase, const QString& text);
  void statsUpdated(quint64 request_id, const r1::app::ReplyStats& stats);
  void replyFinished(quint64 request_id, const r1::app::ChatMessage& reply);
  void replyFailed(quint64 request_id, const QString& message);
  void kvChanged(const r1::app::KvSnapshot& kv);
  void storeFailed(const QString& message);

 private:
  struct Loaded;
  struct Prompt {
    std::vector<int32_t> ids;
    qint64 dropped_messages = 0;
  };

  Prompt buildPrompt(const ChatRequest& request, int64_t room_for_reply) const;
  KvSnapshot kvSnapshot() const;
  RunStore* store();
  // Writes the request's new user turns (reply null), or the finished reply, setting its id.
  void persist(const ChatRequest& request, ChatMessage* reply);

  QString store_path_;
  std::unique_ptr<RunStore> store_;
  bool store_failed_ = false;
  std::shared_ptr<const std::atomic<quint64>> stopped_upto_;
  std::shared_ptr<const std::atomic<quint64>> cancelled_upto_;
  std::unique_ptr<Loaded> loaded_;
};

}  // namespace r1::app
