#include "load_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/core/error.h"

namespace r1::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kIoTimeoutS = 120;  // a response that stalls this long counts as an error
constexpr size_t kErrorExamples = 5;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// One keep-alive connection with a read buffer.
class Connection {
 public:
  ~Connection() { close(); }
  bool open(const std::string& host, int port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    timeval tv{kIoTimeoutS, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }
  bool is_open() const { return fd_ >= 0; }

  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += size_t(n);
    }
    return true;
  }
  // A line without its CRLF.
  bool read_line(std::string& line) {
    for (;;) {
      const size_t end = buf_.find("\r\n");
      if (end != std::string::npos) {
        line = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        return true;
      }
      if (!fill()) return false;
    }
  }
  bool read_exact(size_t n, std::string& out) {
    while (buf_.size() < n)
      if (!fill()) return false;
    out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }

 private:
  bool fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, size_t(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

struct Outcome {
  std::string error;  // empty: a whole, well-formed response
  int64_t tokens = 0;
  double first_token_s = -1, latency_s = 0;
  bool close_after = false;
};

// Checks one server-sent event's data; returns false with `why` set when it is not what the API promises.
bool take_event(const std::string& data, Outcome& o, bool& done, bool& finished, bool& usage,
                Clock::time_point t0, std::string& why) {
  if (data == "[DONE]") {
    done = true;
    return true;
  }
  json j;
  try {
    j = json::parse(data);
  } catch (const json::exception& e) {
    why = std::string("an event is not JSON: ") + e.what();
    return false;
  }
  if (!j.is_object() || j.value("object", "") != "chat.completion.chunk") {
    why = "an event is not a chat.completion.chunk: " + data.substr(0, 120);
    return false;
  }
  const auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array() && !choices->empty()) {
    const json& c = (*choices)[0];
    const auto delta = c.find("delta");
    if (delta != c.end() && delta->is_object()) {
      const auto has_text = [&](const char* key) {
        const auto v = delta->find(key);
        return v != delta->end() && v->is_string() && !v->get_ref<const std::string&>().empty();
      };
      const bool text = has_text("content") || has_text("reasoning_content");
      if (text && o.first_token_s < 0) o.first_token_s = seconds_between(t0, Clock::now());
    }
    if (c.contains("finish_reason") && c["finish_reason"].is_string()) finished = true;
  }
  const auto u = j.find("usage");
  if (u != j.end() && u->is_object()) {
    usage = true;
    o.tokens = u->value("completion_tokens", int64_t(0));
  }
  return true;
}

Outcome stream_one(Connection& c, const LoadOptions& opt, int client, int64_t n) {
  Outcome o;
  const json body = {
      {"messages",
       json::array({{{"role", "user"},
                     {"content", "Client " + std::to_string(client) + ", request " + std::to_string(n) +
                                     ": what is " + std::to_string(17 + n % 50) + " + " +
                                     std::to_string(3 + client) + "?"}}})},
      {"max_tokens", opt.max_tokens},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}}};
  const std::string text = body.dump();
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: " + opt.host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) + "\r\n\r\n" +
      text;
  const auto t0 = Clock::now();
  if (!c.send_all(request)) return {"the request could not be sent"};
  std::string line;
  if (!c.read_line(line)) return {"the connection closed before a status line"};
  if (line.rfind("HTTP/1.1 200", 0) != 0) return {"status line \"" + line + "\""};
  bool chunked = false;
  while (c.read_line(line) && !line.empty()) {
    std::string lower = line;
    for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "transfer-encoding: chunked") chunked = true;
    if (lower == "connection: close") o.close_after = true;
  }
  if (!chunked) return {"the stream is not chunked"};
  std::string events;
  bool done = false, finished = false, usage = false;
  for (;;) {
    if (!c.read_line(line)) return {"the stream was cut off inside a chunk header"};
    size_t size = 0;
    try {
      size = std::stoul(line, nullptr, 16);
    } catch (const std::exception&) {
      return {"bad chunk size \"" + line + "\""};
    }
    std::string data;
    if (!c.read_exact(size + 2, data)) return {"the stream was cut off inside a chunk"};
    if (size == 0) break;
    events.append(data, 0, size);
    for (size_t end; (end = events.find("\n\n")) != std::string::npos;) {
      const std::string event = events.substr(0, end);
      events.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) return {"an event without data: " + event.substr(0, 80)};
      std::string why;
      if (!take_event(event.substr(6), o, done, finished, usage, t0, why)) return {why};
    }
  }
  if (!events.empty()) return {"the stream ended inside an event"};
  if (!finished) return {"no chunk carried a finish_reason"};
  if (!usage) return {"no usage chunk"};
  if (!done) return {"no [DONE]"};
  o.latency_s = seconds_between(t0, Clock::now());
  return o;
}

}  // namespace

int64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * int64_t(::sysconf(_SC_PAGESIZE));
}

int64_t open_file_count() {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

LoadResult run_load(const LoadOptions& opt) {
  if (opt.clients < 1) fail("load: at least one client");
  if (opt.port <= 0) fail("load: no server port");
  LoadResult result;
  std::mutex mu;
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.seconds));
  const auto stop = [&] { return Clock::now() >= deadline || (opt.cancel && opt.cancel->load()); };
  std::vector<std::thread> threads;
  for (int client = 0; client < opt.clients; ++client) {
    threads.emplace_back([&, client] {
      Connection c;
      for (int64_t n = 0; !stop(); ++n) {
        Outcome o;
        if (!c.is_open() && !c.open(opt.host, opt.port))
          o.error = "cannot connect";
        else
          o = stream_one(c, opt, client, n);
        if (!o.error.empty() || o.close_after) c.close();
        const std::lock_guard lock(mu);
        if (o.error.empty()) {
          ++result.requests;
          result.completion_tokens += o.tokens;
          result.latency_s.push_back(o.latency_s);
          if (o.first_token_s >= 0) result.first_token_s.push_back(o.first_token_s);
        } else {
          ++result.errors;
          if (result.error_examples.size() < kErrorExamples)
            result.error_examples.push_back("client " + std::to_string(client) + ": " + o.error);
        }
      }
    });
  }
  auto next_sample = start;
  while (!stop()) {
    if (Clock::now() >= next_sample) {
      LoadSample s;
      s.t = seconds_between(start, Clock::now());
      s.rss_bytes = resident_bytes();
      s.open_files = open_file_count();
      {
        const std::lock_guard lock(mu);
        s.requests = result.requests, s.errors = result.errors, s.tokens = result.completion_tokens;
      }
      result.samples.push_back(s);
      if (opt.on_sample) opt.on_sample(s);
      next_sample +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.sample_every_s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : threads) t.join();
  result.seconds = seconds_between(start, Clock::now());
  LoadSample s;
  s.t = result.seconds;
  s.rss_bytes = resident_bytes();
  s.open_files = open_file_count();
  s.requests = result.requests, s.errors = result.errors, s.tokens = result.completion_tokens;
  result.samples.push_back(s);
  return result;
}

}  // namespace r1::server
