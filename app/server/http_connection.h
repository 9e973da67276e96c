#pragma once
// HTTP/1.1 on one connected socket: reads requests (request line, headers, a Content-Length body) within size
// and time limits, and writes responses whole or as a chunked stream (server-sent events). Plain POSIX
// sockets; the socket itself is owned by the caller.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1::server {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;  // request line and headers together -> 431
  size_t max_headers = 100;             // -> 431
  size_t max_body_bytes = 1 << 20;      // -> 413
  int header_timeout_ms = 10000;        // from a request's first byte to the end of its headers -> 408
  int body_timeout_ms = 30000;          // between two reads of a body -> 408
  int idle_timeout_ms = 30000;          // a kept-alive connection waiting for its next request
  int send_timeout_ms = 30000;          // a client that stops reading
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // target without the query
  std::string version;
  HeaderList headers;  // names lower-cased, values trimmed
  std::string body;
  bool keep_alive = true;

  // The first header of that (lower-case) name, or nullptr.
  const std::string* header(std::string_view name) const;
};

// What reading a request gave: a request, a connection that closed or went idle (nothing to answer), or a
// request that cannot be served (answer `status` with `message`, then close).
struct ReadResult {
  enum class Kind { Request, Closed, Failed };
  Kind kind = Kind::Closed;
  int status = 0;
  std::string message;
};

const char* http_reason(int status);

class HttpConnection {
 public:
  HttpConnection(int fd, const HttpLimits& limits);

  ReadResult read_request(HttpRequest& out);

  // A whole response with Content-Length. Returns false when the client is gone.
  bool send_response(int status, std::string_view content_type, std::string_view body,
                     const HeaderList& extra = {});
  // A chunked response: begin, any number of chunks, end. Each returns false when the client is gone.
  bool begin_chunked(int status, std::string_view content_type, const HeaderList& extra = {});
  bool send_chunk(std::string_view data);
  bool end_chunked();

  // Without blocking: whether the client closed its side or reset the connection. Requests it already
  // pipelined do not count as closing.
  bool peer_closed();
  // After an error answer to a request whose body was not read: stop sending, then read and drop what the
  // client still sends (bounded in time and size) so that closing does not reset the connection before the
  // client has read the answer.
  void drain_and_close_write();

  // Whether another request may follow on this connection.
  bool keep_alive() const { return keep_alive_ && !broken_; }
  void set_keep_alive(bool on) { keep_alive_ = on; }

 private:
  enum class Wait { Ready, Timeout, Closed };
  Wait wait_readable(int timeout_ms);
  // Appends what arrives to buffer_; false on close, error or timeout (kind in `why`).
  bool fill(int timeout_ms, ReadResult& why);
  bool send_all(std::string_view data);
  std::string status_head(int status, std::string_view content_type, const HeaderList& extra) const;

  int fd_;
  HttpLimits limits_;
  std::string buffer_;  // received bytes not yet consumed (the start of a pipelined request)
  bool keep_alive_ = true;
  bool broken_ = false;
};

}  // namespace r1::server
