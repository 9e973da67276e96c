#include "chat_session.h"

#include "chat_worker.h"

namespace r1::app {

void registerChatMetaTypes() {
  qRegisterMetaType<r1::app::ReplyPhase>();
  qRegisterMetaType<r1::app::ReplyStats>();
  qRegisterMetaType<r1::app::ChatMessage>();
  qRegisterMetaType<r1::app::KvSnapshot>();
  qRegisterMetaType<r1::app::ModelInfo>();
  qRegisterMetaType<r1::app::ChatRequest>();
  qRegisterMetaType<r1::app::ConversationSummary>();
}

ChatSession::ChatSession(const QString& store_path, QObject* parent)
    : QObject(parent),
      store_path_(store_path),
      stopped_upto_(std::make_shared<std::atomic<quint64>>(0)),
      cancelled_upto_(std::make_shared<std::atomic<quint64>>(0)) {
  registerChatMetaTypes();
  thread_.setObjectName(QStringLiteral("chat-worker"));
  worker_ = new ChatWorker(store_path_, stopped_upto_, cancelled_upto_);
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

  connect(this, &ChatSession::loadRequested, worker_, &ChatWorker::load, Qt::QueuedConnection);
  connect(this, &ChatSession::generateRequested, worker_, &ChatWorker::generate, Qt::QueuedConnection);

  connect(worker_, &ChatWorker::loadProgress, this, &ChatSession::loadProgress, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::modelLoaded, this, &ChatSession::onModelLoaded, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::loadFailed, this, &ChatSession::onLoadFailed, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::loadCancelled, this, &ChatSession::onLoadCancelled, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::replyStarted, this, &ChatSession::replyStarted, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::textDelta, this, &ChatSession::textDelta, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::statsUpdated, this, &ChatSession::statsUpdated, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::replyFinished, this, &ChatSession::onReplyFinished, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::replyFailed, this, &ChatSession::onReplyFailed, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::kvChanged, this, &ChatSession::kvChanged, Qt::QueuedConnection);
  connect(worker_, &ChatWorker::storeFailed, this, &ChatSession::storeFailed, Qt::QueuedConnection);
  thread_.start();
}

ChatSession::~ChatSession() {
  stopped_upto_->store(last_request_id_);
  cancelled_upto_->store(last_load_id_);
  thread_.quit();
  thread_.wait();
}

void ChatSession::loadModel(const QString& dir, const QString& device) {
  stopped_upto_->store(last_request_id_);  // a reply in progress ends before the load starts
  ++pending_loads_;
  loading_ = true;
  emit loadStarted(dir);
  emit loadRequested(++last_load_id_, dir, device);
}

void ChatSession::cancelLoad() {
  cancelled_upto_->store(last_load_id_);
}

quint64 ChatSession::send(ChatRequest request) {
  request.request_id = ++last_request_id_;
  ++pending_replies_;
  generating_ = true;
  emit generateRequested(request);
  return request.request_id;
}

void ChatSession::stop() {
  stopped_upto_->store(last_request_id_);
}

void ChatSession::onModelLoaded(const ModelInfo& info) {
  model_ = info;
  loading_ = --pending_loads_ > 0;
  emit modelLoaded(info);
}

void ChatSession::onLoadFailed(const QString& dir, const QString& message) {
  loading_ = --pending_loads_ > 0;
  emit loadFailed(dir, message);
}

void ChatSession::onLoadCancelled(const QString& dir) {
  loading_ = --pending_loads_ > 0;
  emit loadCancelled(dir);
}

void ChatSession::onReplyFinished(quint64 request_id, const ChatMessage& reply) {
  generating_ = --pending_replies_ > 0;
  emit replyFinished(request_id, reply);
}

void ChatSession::onReplyFailed(quint64 request_id, const QString& message) {
  generating_ = --pending_replies_ > 0;
  emit replyFailed(request_id, message);
}

}  // namespace r1::app
