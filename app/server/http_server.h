#pragma once
// A small threaded HTTP/1.1 server on POSIX sockets: one thread accepts, one thread per connection reads
// requests and hands each to the handler, which answers on the connection (whole or streamed). Connections
// beyond the limit get 503. stop() wakes and joins every thread.
#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http_connection.h"

namespace r1::server {

class HttpServer {
 public:
  // Answers one request; it may stream. Exceptions it lets out close the connection.
  using Handler = std::function<void(const HttpRequest&, HttpConnection&)>;
  // The body (JSON) of the answers the server gives itself: unreadable requests, too many connections.
  using ErrorBody = std::function<std::string(int status, const std::string& message)>;

  HttpServer(const HttpLimits& limits, Handler handler, ErrorBody error_body, int max_connections = 64);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port) and starts accepting. Throws r1::Error naming the address.
  void listen(const std::string& host, int port);
  int port() const { return port_; }
  // Stops accepting, wakes every connection (its pending reads and writes fail) and joins all threads.
  void stop();

 private:
  struct Connection {
    int fd = -1;  // closed by its own thread when it ends (-1 then), under connections_mutex_
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  void accept_loop();
  void serve(Connection* c);
  void reap_finished();

  HttpLimits limits_;
  Handler handler_;
  ErrorBody error_body_;
  int max_connections_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex connections_mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
};

}  // namespace r1::server
