#include "http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

#include "engine/core/error.h"

namespace r1::server {
namespace {

constexpr int kListenBacklog = 128;
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

int bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

}  // namespace

HttpServer::HttpServer(const HttpLimits& limits, Handler handler, ErrorBody error_body, int max_connections)
    : limits_(limits),
      handler_(std::move(handler)),
      error_body_(std::move(error_body)),
      max_connections_(max_connections) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::listen(const std::string& host, int port) {
  if (listen_fd_ >= 0) fail("the server is already listening");
  if (port < 0 || port > 65535) fail("port ", port, " is out of range (0 to 65535)");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    fail("cannot resolve host \"", host, "\": ", gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = found; a && listen_fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, kListenBacklog) == 0) {
      listen_fd_ = fd;
    } else {
      last_error = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) fail("cannot listen on ", host, ":", port, ": ", last_error);
  port_ = bound_port(listen_fd_);
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    fail("cannot create the server's wake-up pipe: ", std::strerror(errno));
  }
  stopping_ = false;
  acceptor_ = std::thread([this] { accept_loop(); });
}

void HttpServer::accept_loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    const int n = poll(p, 2, -1);
    if (stopping_) return;
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (!(p[0].revents & POLLIN)) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays readable, so wait a little instead of spinning.
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(kAcceptBackoff);
      continue;
    }
    reap_finished();
    std::lock_guard lock(connections_mutex_);
    if (int(connections_.size()) >= max_connections_) {
      HttpConnection busy(fd, limits_);
      busy.set_keep_alive(false);
      busy.send_response(503, "application/json", error_body_(503, "too many open connections"));
      close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    Connection* raw = c.get();
    connections_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] { serve(raw); });
  }
}

void HttpServer::serve(Connection* c) {
  HttpConnection conn(c->fd, limits_);
  try {
    while (!stopping_) {
      HttpRequest request;
      const ReadResult r = conn.read_request(request);
      if (r.kind == ReadResult::Kind::Closed) break;
      if (r.kind == ReadResult::Kind::Failed) {
        conn.set_keep_alive(false);
        conn.send_response(r.status, "application/json", error_body_(r.status, r.message));
        conn.drain_and_close_write();
        break;
      }
      handler_(request, conn);
      if (!conn.keep_alive()) break;
    }
  } catch (const std::exception&) {
    // The handler could not finish its answer; closing the connection tells the client.
  }
  std::lock_guard lock(connections_mutex_);
  close(c->fd);
  c->fd = -1;
  c->finished = true;
}

void HttpServer::reap_finished() {
  std::list<std::unique_ptr<Connection>> done;
  {
    std::lock_guard lock(connections_mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if ((*it)->finished) {
        done.push_back(std::move(*it));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : done) c->thread.join();
}

void HttpServer::stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  const char wake = 1;
  if (write(wake_pipe_[1], &wake, 1) < 0) {
    // The pipe is only ever written here; poll also wakes when the listening socket closes below.
  }
  acceptor_.join();
  {
    std::lock_guard lock(connections_mutex_);
    for (auto& c : connections_)
      if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
  }
  for (auto& c : connections_) c->thread.join();
  connections_.clear();
  close(listen_fd_);
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
  listen_fd_ = -1;
  wake_pipe_[0] = wake_pipe_[1] = -1;
}

}  // namespace r1::server
