// Fuzz target: bytes a client sends to `r1wb serve`. They are written into one end of a socket pair, which
// is then closed, and the server's HttpConnection reads requests from the other end until the stream ends
// or a request is refused; each request's body then goes through the OpenAI request parser as both a chat
// and a completion request. A refusal must carry an HTTP error status and a message.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "engine/core/error.h"
#include "fuzz_support.h"
#include "server/http_connection.h"
#include "server/openai_api.h"

namespace {

// What fits in the socket pair's buffer, so that the whole input is written before anything is read.
constexpr size_t kMaxInput = 96 * 1024;

void parse_body(r1::server::ApiKind kind, const std::string& body) {
  try {
    (void)r1::server::parse_request(kind, body);
  } catch (const r1::server::ApiError& e) {
    FUZZ_CHECK(e.status >= 400 && e.status < 600 && *e.what() != '\0');
  } catch (const r1::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInput) return 0;
  int fds[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  const int buffer = int(2 * kMaxInput);
  setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  for (size_t done = 0; done < size;) {
    const ssize_t n = send(fds[1], data + done, size - done, MSG_NOSIGNAL);
    FUZZ_CHECK(n > 0);
    done += size_t(n);
  }
  close(fds[1]);

  r1::server::HttpLimits limits;
  limits.header_timeout_ms = limits.body_timeout_ms = limits.idle_timeout_ms = 1000;
  limits.send_timeout_ms = 100;
  r1::server::HttpConnection connection(fds[0], limits);
  for (int i = 0; i < 64; ++i) {
    r1::server::HttpRequest request;
    const r1::server::ReadResult result = connection.read_request(request);
    if (result.kind == r1::server::ReadResult::Kind::Failed)
      FUZZ_CHECK(result.status >= 400 && result.status < 600 && !result.message.empty());
    if (result.kind != r1::server::ReadResult::Kind::Request) break;
    FUZZ_CHECK(!request.method.empty() && !request.path.empty() && request.path.front() == '/');
    parse_body(r1::server::ApiKind::Chat, request.body);
    parse_body(r1::server::ApiKind::Completion, request.body);
    if (!connection.keep_alive()) break;
  }
  close(fds[0]);
  return 0;
}
