#pragma once
// The OpenAI-compatible server of `r1wb serve`, run inside the workbench: start() loads the model and binds
// the port on a worker thread, so the window stays responsive, then the server runs on its own threads until
// stop(). It loads its own copy of the model, apart from the chat's.
#include <QObject>
#include <QString>
#include <memory>

class QThread;

namespace r1::server {
class Server;
}

namespace r1::app {

class LocalServer : public QObject {
  Q_OBJECT

 public:
  // The port the workbench serves on unless the "server/port" setting says otherwise.
  static constexpr int kDefaultPort = 8080;
  static int configuredPort();  // the setting; 0 means any free port

  explicit LocalServer(QObject* parent = nullptr);
  ~LocalServer() override;

  bool isRunning() const { return server_ != nullptr; }
  bool isStarting() const { return starter_ != nullptr && !stop_requested_; }
  QString host() const;
  int port() const;          // the bound port while running, else 0
  QString modelDir() const;  // the model being served (or loaded to be served)
  QString url() const;       // http://host:port while running, else empty

  // Serves the model folder on 127.0.0.1:port (0: any free port) with `device` ("cpu" or "cuda").
  void start(const QString& model_dir, const QString& device, int port);
  void stop();

 signals:
  void started(const QString& url);
  void failed(const QString& message);
  void stopped();

 private:
  struct Pending;
  void onStarterFinished();

  std::unique_ptr<r1::server::Server> server_;
  std::shared_ptr<Pending> pending_;
  QThread* starter_ = nullptr;
  QString model_dir_;
  bool stop_requested_ = false;
};

}  // namespace r1::app
