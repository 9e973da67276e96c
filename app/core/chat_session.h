#pragma once
// The chat session: loads a model and generates replies on its own worker thread, so the GUI never waits on
// the engine. Commands come in as calls on this object (GUI thread) and travel to the worker as queued
// signals; results come back as queued signals carrying value types. Stop and Cancel raise atomic marks
// ("everything up to request n is cancelled") the worker checks every token and between loading stages.
#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>
#include <memory>

#include "chat_types.h"

namespace r1::app {

class ChatWorker;

class ChatSession : public QObject {
  Q_OBJECT

 public:
  // Replies are written to the run store at `store_path` (the worker opens its own connection); empty: not
  // stored.
  explicit ChatSession(const QString& store_path = {}, QObject* parent = nullptr);
  ~ChatSession() override;

  bool isLoading() const { return loading_; }
  bool isGenerating() const { return generating_; }
  bool hasModel() const { return !model_.dir.isEmpty(); }
  const ModelInfo& model() const { return model_; }
  const QString& storePath() const { return store_path_; }

  // Loads a Hugging Face model folder on `device` ("cpu" or "cuda"). The model loaded before stays in use
  // until the new one is ready, and stays when loading fails or is cancelled.
  void loadModel(const QString& dir, const QString& device);
  void cancelLoad();
  // Queues a reply; returns its request id (request.request_id is assigned here).
  quint64 send(ChatRequest request);
  // Ends the reply being generated after the current token; the partial reply is kept.
  void stop();

 signals:
  void loadStarted(const QString& dir);
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

  // To the worker.
  void loadRequested(quint64 load_id, const QString& dir, const QString& device);
  void generateRequested(const r1::app::ChatRequest& request);

 private:
  void onModelLoaded(const r1::app::ModelInfo& info);
  void onLoadFailed(const QString& dir, const QString& message);
  void onLoadCancelled(const QString& dir);
  void onReplyFinished(quint64 request_id, const r1::app::ChatMessage& reply);
  void onReplyFailed(quint64 request_id, const QString& message);

  QString store_path_;
  QThread thread_;
  ChatWorker* worker_ = nullptr;
  std::shared_ptr<std::atomic<quint64>> stopped_upto_;    // replies with ids <= this are stopped
  std::shared_ptr<std::atomic<quint64>> cancelled_upto_;  // loads with ids <= this are cancelled
  ModelInfo model_;
  int pending_loads_ = 0;
  int pending_replies_ = 0;
  bool loading_ = false;
  bool generating_ = false;
  quint64 last_request_id_ = 0;
  quint64 last_load_id_ = 0;
};

void registerChatMetaTypes();

}  // namespace r1::app
