#include "local_server.h"

#include <QSettings>
#include <QThread>
#include <exception>

#include "server/server.h"

namespace r1::app {

// What the worker thread hands back; read only after the thread has finished.
struct LocalServer::Pending {
  std::unique_ptr<r1::server::Server> server;
  QString error;
};

int LocalServer::configuredPort() {
  return QSettings().value(QStringLiteral("server/port"), kDefaultPort).toInt();
}

LocalServer::LocalServer(QObject* parent) : QObject(parent) {}

LocalServer::~LocalServer() {
  if (starter_) starter_->wait();  // the model load cannot be interrupted; its server is dropped with us
  server_.reset();
}

QString LocalServer::host() const {
  return server_ ? QString::fromStdString(server_->host()) : QString();
}

int LocalServer::port() const {
  return server_ ? server_->port() : 0;
}

QString LocalServer::modelDir() const {
  return model_dir_;
}

QString LocalServer::url() const {
  return server_ ? QStringLiteral("http://%1:%2").arg(host()).arg(port()) : QString();
}

void LocalServer::start(const QString& model_dir, const QString& device, int port) {
  if (starter_) stop_requested_ = false;  // a start still loading goes on after all
  if (server_ || starter_) return;
  r1::server::ServerOptions options;
  options.model_dir = model_dir.toStdString();
  options.host = "127.0.0.1";
  options.port = port;
  model_dir_ = model_dir;
  stop_requested_ = false;
  pending_ = std::make_shared<Pending>();
  starter_ = QThread::create([pending = pending_, options, device] {
    try {
      r1::server::ServerOptions o = options;
      o.device = r1::parse_device(device.toStdString());
      auto server = std::make_unique<r1::server::Server>(o);
      server->start();
      pending->server = std::move(server);
    } catch (const std::exception& e) {
      pending->error = QString::fromUtf8(e.what());
    }
  });
  starter_->setObjectName(QStringLiteral("localServerStart"));
  connect(starter_, &QThread::finished, this, &LocalServer::onStarterFinished);
  starter_->start();
}

void LocalServer::onStarterFinished() {
  starter_->deleteLater();
  starter_ = nullptr;
  const std::shared_ptr<Pending> pending = std::move(pending_);
  if (!pending->error.isEmpty()) {
    emit failed(pending->error);
    return;
  }
  if (stop_requested_) {
    pending->server.reset();
    emit stopped();
    return;
  }
  server_ = std::move(pending->server);
  emit started(url());
}

void LocalServer::stop() {
  if (starter_) {
    stop_requested_ = true;  // the server goes as soon as its start finishes
    return;
  }
  if (!server_) return;
  server_.reset();
  emit stopped();
}

}  // namespace r1::app
