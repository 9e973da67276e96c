#include "http_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>

namespace r1::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16 * 1024;
// What drain_and_close_write reads at most before closing anyway.
constexpr size_t kDrainBytes = size_t(8) << 20;
constexpr int kDrainMs = 2000;

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return int(std::max<long long>(left, 0));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

ReadResult failed(int status, std::string message) {
  return {ReadResult::Kind::Failed, status, std::move(message)};
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool lists_token(const std::string* value, std::string_view token) {
  if (!value) return false;
  const std::string v = lower(*value);
  size_t from = 0;
  while (from <= v.size()) {
    const size_t comma = std::min(v.find(',', from), v.size());
    if (trim(std::string_view(v).substr(from, comma - from)) == token) return true;
    from = comma + 1;
  }
  return false;
}

}  // namespace

const char* http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return &value;
  return nullptr;
}

HttpConnection::HttpConnection(int fd, const HttpLimits& limits) : fd_(fd), limits_(limits) {
  timeval tv{};
  tv.tv_sec = limits_.send_timeout_ms / 1000;
  tv.tv_usec = (limits_.send_timeout_ms % 1000) * 1000;
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;  // server-sent events go out token by token
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

HttpConnection::Wait HttpConnection::wait_readable(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int n = poll(&p, 1, ms_left(deadline));
    if (n > 0) return Wait::Ready;
    if (n == 0) return Wait::Timeout;
    if (errno != EINTR) return Wait::Closed;
  }
}

bool HttpConnection::fill(int timeout_ms, ReadResult& why) {
  const Wait w = wait_readable(timeout_ms);
  if (w == Wait::Timeout) {
    why = failed(408, "the request was not received in time");
    return false;
  }
  why = {};
  if (w == Wait::Closed) return false;
  char chunk[kReadChunk];
  for (;;) {
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, size_t(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    broken_ = true;
    return false;
  }
}

ReadResult HttpConnection::read_request(HttpRequest& out) {
  out = HttpRequest{};
  ReadResult why;
  bool started = false;
  auto header_deadline = Clock::now();
  size_t head_end = std::string::npos;
  for (;;) {
    const size_t skip = buffer_.find_first_not_of("\r\n");  // stray line ends between requests
    buffer_.erase(0, skip == std::string::npos ? buffer_.size() : skip);
    if (!started && !buffer_.empty()) {
      started = true;
      header_deadline = Clock::now() + std::chrono::milliseconds(limits_.header_timeout_ms);
    }
    head_end = buffer_.find("\r\n\r\n");
    if (head_end != std::string::npos) break;
    if (buffer_.size() > limits_.max_header_bytes)
      return failed(431, "the request line and headers are larger than " +
                             std::to_string(limits_.max_header_bytes) + " bytes");
    const int timeout = started ? ms_left(header_deadline) : limits_.idle_timeout_ms;
    if (!fill(timeout, why)) {
      if (!started || why.kind != ReadResult::Kind::Failed) return {};
      return why;
    }
  }
  if (head_end + 4 > limits_.max_header_bytes)
    return failed(431, "the request line and headers are larger than " +
                           std::to_string(limits_.max_header_bytes) + " bytes");

  const std::string_view head(buffer_.data(), head_end);
  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return failed(400, "malformed request line");
  out.method = std::string(request_line.substr(0, sp1));
  out.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  out.version = std::string(request_line.substr(sp2 + 1));
  if (!is_token(out.method) || out.target.empty() || out.target.front() != '/')
    return failed(400, "malformed request line");
  if (out.version != "HTTP/1.1" && out.version != "HTTP/1.0")
    return out.version.rfind("HTTP/", 0) == 0 ? failed(505, "only HTTP/1.0 and HTTP/1.1 are served")
                                              : failed(400, "malformed request line");
  out.path = out.target.substr(0, out.target.find('?'));

  while (line_end != std::string_view::npos && line_end < head.size()) {
    const size_t from = line_end + 2;
    line_end = head.find("\r\n", from);
    const std::string_view line =
        head.substr(from, (line_end == std::string_view::npos ? head.size() : line_end) - from);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t')
      return failed(400, "folded header lines are not accepted");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return failed(400, "malformed header line");
    if (out.headers.size() >= limits_.max_headers)
      return failed(431, "more than " + std::to_string(limits_.max_headers) + " headers");
    out.headers.emplace_back(lower(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }

  const std::string* connection = out.header("connection");
  out.keep_alive =
      out.version == "HTTP/1.1" ? !lists_token(connection, "close") : lists_token(connection, "keep-alive");
  keep_alive_ = out.keep_alive;

  if (out.header("transfer-encoding"))
    return failed(411, "request bodies must be sent with Content-Length, not Transfer-Encoding");
  size_t length = 0;
  bool have_length = false;
  for (const auto& [name, value] : out.headers) {
    if (name != "content-length") continue;
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return failed(400, "invalid Content-Length");
    const size_t v = std::stoull(value);
    if (have_length && v != length) return failed(400, "conflicting Content-Length headers");
    length = v;
    have_length = true;
  }
  if (length > limits_.max_body_bytes)
    return failed(413, "the request body of " + std::to_string(length) +
                           " bytes is larger than the limit of " + std::to_string(limits_.max_body_bytes) +
                           " bytes");
  buffer_.erase(0, head_end + 4);

  if (const std::string* expect = out.header("expect")) {
    if (lower(*expect) != "100-continue") return failed(417, "only \"Expect: 100-continue\" is understood");
    if (buffer_.size() < length && !send_all("HTTP/1.1 100 Continue\r\n\r\n")) return {};
  }
  while (buffer_.size() < length) {
    if (!fill(limits_.body_timeout_ms, why)) return why.kind == ReadResult::Kind::Failed ? why : ReadResult{};
  }
  out.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
  return {ReadResult::Kind::Request, 0, {}};
}

std::string HttpConnection::status_head(int status, std::string_view content_type,
                                        const HeaderList& extra) const {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + http_reason(status) + "\r\n";
  h += "Server: r1wb\r\n";
  if (!content_type.empty()) h.append("Content-Type: ").append(content_type).append("\r\n");
  h += keep_alive() ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : extra) h.append(name).append(": ").append(value).append("\r\n");
  return h;
}

bool HttpConnection::send_response(int status, std::string_view content_type, std::string_view body,
                                   const HeaderList& extra) {
  std::string msg = status_head(status, content_type, extra);
  msg.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return send_all(msg);
}

bool HttpConnection::begin_chunked(int status, std::string_view content_type, const HeaderList& extra) {
  return send_all(status_head(status, content_type, extra) + "Transfer-Encoding: chunked\r\n\r\n");
}

bool HttpConnection::send_chunk(std::string_view data) {
  if (data.empty()) return !broken_;  // an empty chunk would end the body
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string msg(size);
  msg.append(data).append("\r\n");
  return send_all(msg);
}

bool HttpConnection::end_chunked() {
  return send_all("0\r\n\r\n");
}

bool HttpConnection::send_all(std::string_view data) {
  while (!broken_ && !data.empty()) {
    const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(size_t(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      broken_ = true;  // reset, closed, or not read within the send timeout
    }
  }
  return !broken_;
}

bool HttpConnection::peer_closed() {
  if (broken_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return true;
  if (!(p.revents & POLLIN)) return false;
  char c = 0;
  const ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void HttpConnection::drain_and_close_write() {
  broken_ = true;
  shutdown(fd_, SHUT_WR);
  const auto deadline = Clock::now() + std::chrono::milliseconds(kDrainMs);
  size_t drained = 0;
  char chunk[kReadChunk];
  while (drained < kDrainBytes) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    drained += size_t(n);
  }
}

}  // namespace r1::server
