// The OpenAI-compatible server, in-process on a free loopback port, spoken to with raw HTTP over QTcpSocket:
// the models list, chat replies with reasoning apart from content (equal to a single-sequence greedy run of
// the engine), SSE framing, OpenAI error objects for bad requests, the API key, size limits, routing, two
// requests batched into one step, and a client that disconnects mid-stream freeing its sequence.
#include <QHostAddress>
#include <QTcpSocket>
#include <QtTest/QtTest>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/runtime/generator.h"
#include "engine/tokenizer/reasoning.h"
#include "server/load_client.h"
#include "server/server.h"
#include "server/stop_matcher.h"
#include "testlib/test_support.h"

using nlohmann::json;
using namespace r1;

namespace {

constexpr int kIoTimeoutMs = 60000;
const char* kCountdown =
    "Using the numbers [1, 20, 5], create an equation that equals 95. You can use +, -, *, / and "
    "parentheses, "
    "and each number at most once. Show your reasoning in <think> </think> and give only the equation in "
    "<answer> </answer>, for example <answer>(1 + 2) / 3</answer>.";

std::filesystem::path tiny_dir() {
  return std::filesystem::path(R1WB_SOURCE_DIR) / "resources" / "models" / "r1-tiny";
}

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // chunked bodies decoded
  bool chunked_complete = false;               // a chunked body ended with its zero-size chunk
};

// Parses one HTTP response from raw[at...]; returns the offset after it, or npos when incomplete or
// malformed.
size_t parse_reply(const std::string& raw, size_t at, HttpReply& out) {
  const size_t head_end = raw.find("\r\n\r\n", at);
  if (head_end == std::string::npos || raw.compare(at, 9, "HTTP/1.1 ") != 0) return std::string::npos;
  out = HttpReply{};
  out.status = std::stoi(raw.substr(at + 9, 3));
  size_t line = raw.find("\r\n", at) + 2;
  while (line < head_end) {
    const size_t end = raw.find("\r\n", line);
    const std::string h = raw.substr(line, end - line);
    const size_t colon = h.find(':');
    std::string name = h.substr(0, colon);
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = h.substr(h.find_first_not_of(' ', colon + 1));
    line = end + 2;
  }
  size_t pos = head_end + 4;
  if (out.headers["transfer-encoding"] == "chunked") {
    for (;;) {
      const size_t size_end = raw.find("\r\n", pos);
      if (size_end == std::string::npos) return std::string::npos;
      const size_t n = std::stoul(raw.substr(pos, size_end - pos), nullptr, 16);
      pos = size_end + 2;
      if (raw.size() < pos + n + 2 || raw.compare(pos + n, 2, "\r\n") != 0) return std::string::npos;
      out.body += raw.substr(pos, n);
      pos += n + 2;
      if (n == 0) {
        out.chunked_complete = true;
        return pos;
      }
    }
  }
  const size_t length = std::stoul(out.headers["content-length"]);
  if (raw.size() < pos + length) return std::string::npos;
  out.body = raw.substr(pos, length);
  return pos + length;
}

std::string request_text(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& extra_headers = {}, bool close = true) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (close) r += "Connection: close\r\n";
  if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

class Client {
 public:
  explicit Client(int port) {
    socket_.connectToHost(QHostAddress::LocalHost, quint16(port));
    connected_ = socket_.waitForConnected(kIoTimeoutMs);
  }
  bool connected() const { return connected_; }
  void send(const std::string& raw) {
    socket_.write(raw.data(), qint64(raw.size()));
    socket_.flush();
  }
  // Reads until the server closes the connection; false on a timeout.
  bool read_to_end(std::string& out) {
    while (socket_.state() == QAbstractSocket::ConnectedState) {
      if (!socket_.waitForReadyRead(kIoTimeoutMs)) break;
      out += socket_.readAll().toStdString();
    }
    out += socket_.readAll().toStdString();
    return socket_.state() == QAbstractSocket::UnconnectedState;
  }
  // Reads until `needle` has arrived; false on a timeout or close.
  bool read_until(std::string& out, const std::string& needle) {
    while (out.find(needle) == std::string::npos) {
      if (!socket_.waitForReadyRead(kIoTimeoutMs)) return false;
      out += socket_.readAll().toStdString();
    }
    return true;
  }
  void abort() { socket_.abort(); }

 private:
  QTcpSocket socket_;
  bool connected_ = false;
};

HttpReply round_trip(int port, const std::string& raw) {
  Client c(port);
  std::string got;
  HttpReply reply;
  if (!c.connected()) return reply;
  c.send(raw);
  c.read_to_end(got);
  parse_reply(got, 0, reply);
  return reply;
}

HttpReply call(int port, const std::string& method, const std::string& path, const std::string& body = {},
               const std::string& extra_headers = {}) {
  return round_trip(port, request_text(method, path, body, extra_headers));
}

json chat_body(int max_tokens, bool stream = false) {
  json j = {{"model", "r1-tiny"},
            {"messages", json::array({{{"role", "user"}, {"content", kCountdown}}})},
            {"temperature", 0},
            {"max_tokens", max_tokens}};
  if (stream) {
    j["stream"] = true;
    j["stream_options"] = {{"include_usage", true}};
  }
  return j;
}

// The data payloads of a server-sent event stream, in order.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      events.push_back("<unterminated>" + body.substr(pos));
      break;
    }
    const std::string e = body.substr(pos, end - pos);
    events.push_back(e.rfind("data: ", 0) == 0 ? e.substr(6) : "<not data>" + e);
    pos = end + 2;
  }
  return events;
}

void expect_error(const HttpReply& r, int status, const char* param, const char* fragment = "") {
  QCOMPARE(r.status, status);
  QCOMPARE(r.headers.at("content-type"), std::string("application/json"));
  const json j = json::parse(r.body);
  QVERIFY2(j.contains("error"), r.body.c_str());
  const json& e = j["error"];
  QVERIFY(e["message"].is_string() && !e["message"].get<std::string>().empty());
  QVERIFY2(e["message"].get<std::string>().find(fragment) != std::string::npos, r.body.c_str());
  QVERIFY(e["type"].is_string());
  QVERIFY(e.contains("param") && e.contains("code"));
  if (param) {
    QCOMPARE(e["param"].get<std::string>(), std::string(param));
  } else {
    QVERIFY(e["param"].is_null());
  }
}

// The reply a single sequence gives with the engine's own Generator (greedy), split as the chat page does.
struct Expected {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string raw, thinking, answer;
};

Expected greedy_reference(const server::ServedModel& m, int max_tokens) {
  std::vector<ChatMessage> messages = {{"user", kCountdown, {}}};
  const std::vector<int32_t> prompt = m.chat_prompt(messages);
  RuntimeOptions ro;
  ro.max_context = m.model->config.max_position_embeddings;
  const auto rt = create_runtime(m.model, ro);
  Generator gen(*rt);
  GenerateOptions go;
  go.max_new_tokens = max_tokens;
  go.stop_ids = m.stop_ids;
  const GenerationResult g = gen.generate(prompt, go, SamplingParams::greedy());
  Expected e;
  e.prompt_tokens = int64_t(prompt.size());
  e.completion_tokens = int64_t(g.tokens.size());
  StreamingDecoder decoder(*m.tokenizer, /*skip_special=*/true);
  for (int32_t t : g.tokens) e.raw += decoder.push(t);
  e.raw += decoder.flush();
  ReasoningParser::Options po;
  po.starts_in_thinking = m.starts_thinking;
  ReasoningParser parser(po);
  parser.push(e.raw);
  parser.finish();
  e.thinking = parser.thinking();
  e.answer = parser.answer();
  return e;
}

}  // namespace

class TestServer : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<server::Server> server_;
  Expected expected_;
  static constexpr int kReplyTokens = 200;

  int port() const { return server_->port(); }
  server::SchedulerStats stats() const { return server_->scheduler().stats(); }

  void restart(server::ServerOptions o) {
    server_.reset();
    o.model_dir = tiny_dir();
    o.host = "127.0.0.1";
    o.port = 0;
    server_ = std::make_unique<server::Server>(o);
    server_->start();
  }

 private slots:
  void initTestCase() {
    server::ServerOptions o;
    o.max_sequences = 4;
    restart(o);
    expected_ = greedy_reference(server_->model(), kReplyTokens);
    // The reference must exercise the split: r1-tiny thinks, closes the thought and answers.
    QVERIFY(!expected_.thinking.empty());
    QVERIFY(!expected_.answer.empty());
    QVERIFY(expected_.completion_tokens < kReplyTokens);
  }

  void init() {
    server::ServerOptions o;
    o.max_sequences = 4;
    restart(o);
  }

  void cleanup() { server_.reset(); }

  void models_lists_the_served_model() {
    const HttpReply r = call(port(), "GET", "/v1/models");
    QCOMPARE(r.status, 200);
    const json j = json::parse(r.body);
    QCOMPARE(j["object"].get<std::string>(), std::string("list"));
    QCOMPARE(j["data"].size(), size_t(1));
    QCOMPARE(j["data"][0]["id"].get<std::string>(), std::string("r1-tiny"));
    QCOMPARE(j["data"][0]["object"].get<std::string>(), std::string("model"));
    QCOMPARE(call(port(), "GET", "/v1/models/r1-tiny").status, 200);
    expect_error(call(port(), "GET", "/v1/models/gpt-4"), 404, "model");
  }

  void keep_alive_serves_pipelined_requests() {
    Client c(port());
    QVERIFY(c.connected());
    c.send(request_text("GET", "/v1/models", {}, {}, /*close=*/false) +
           request_text("GET", "/health", {}, {}, /*close=*/true));
    std::string raw;
    QVERIFY(c.read_to_end(raw));
    HttpReply first, second;
    const size_t next = parse_reply(raw, 0, first);
    QVERIFY(next != std::string::npos);
    QCOMPARE(first.status, 200);
    QCOMPARE(first.headers["connection"], std::string("keep-alive"));
    QCOMPARE(parse_reply(raw, next, second), raw.size());
    QCOMPARE(second.status, 200);
    QCOMPARE(json::parse(second.body)["status"].get<std::string>(), std::string("ok"));
  }

  void chat_completion_puts_reasoning_apart() {
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", chat_body(kReplyTokens).dump());
    QCOMPARE(r.status, 200);
    const json j = json::parse(r.body);
    QCOMPARE(j["object"].get<std::string>(), std::string("chat.completion"));
    QVERIFY(j["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
    QCOMPARE(j["model"].get<std::string>(), std::string("r1-tiny"));
    const json& choice = j["choices"][0];
    QCOMPARE(choice["index"].get<int>(), 0);
    QCOMPARE(choice["finish_reason"].get<std::string>(), std::string("stop"));
    QCOMPARE(choice["message"]["role"].get<std::string>(), std::string("assistant"));
    const std::string reasoning = choice["message"]["reasoning_content"].get<std::string>();
    const std::string content = choice["message"]["content"].get<std::string>();
    QCOMPARE(reasoning, expected_.thinking);
    QCOMPARE(content, expected_.answer);
    QVERIFY(content.find("</think>") == std::string::npos);
    QVERIFY(reasoning.find("</think>") == std::string::npos);

    const json& u = j["usage"];
    QCOMPARE(u["prompt_tokens"].get<int64_t>(), expected_.prompt_tokens);
    QCOMPARE(u["completion_tokens"].get<int64_t>(), expected_.completion_tokens);
    QCOMPARE(u["total_tokens"].get<int64_t>(), expected_.prompt_tokens + expected_.completion_tokens);
    const json& t = j["timings"];
    QVERIFY(t["prompt_ms"].get<double>() > 0);
    QVERIFY(t["predicted_ms"].get<double>() > 0);
    QVERIFY(t["predicted_per_second"].get<double>() > 0);
    QCOMPARE(stats().completed, int64_t(1));
  }

  void reasoning_format_none_keeps_thinking_in_content() {
    server::ServerOptions o;
    o.reasoning = server::ReasoningFormat::None;
    restart(o);
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", chat_body(kReplyTokens).dump());
    QCOMPARE(r.status, 200);
    const json message = json::parse(r.body)["choices"][0]["message"];
    QVERIFY(!message.contains("reasoning_content"));
    QCOMPARE(message["content"].get<std::string>(), "<think>\n" + expected_.raw);
  }

  void max_tokens_ends_with_length() {
    json body = chat_body(5);
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", body.dump());
    QCOMPARE(r.status, 200);
    const json j = json::parse(r.body);
    QCOMPARE(j["choices"][0]["finish_reason"].get<std::string>(), std::string("length"));
    QCOMPARE(j["usage"]["completion_tokens"].get<int64_t>(), int64_t(5));
  }

  void stream_is_framed_as_server_sent_events() {
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", chat_body(kReplyTokens, true).dump());
    QCOMPARE(r.status, 200);
    QCOMPARE(r.headers.at("content-type"), std::string("text/event-stream"));
    QVERIFY(r.chunked_complete);
    const auto events = sse_events(r.body);
    QVERIFY(events.size() >= 5);
    QCOMPARE(events.back(), std::string("[DONE]"));
    const json first = json::parse(events.front());
    QCOMPARE(first["object"].get<std::string>(), std::string("chat.completion.chunk"));
    QCOMPARE(first["choices"][0]["delta"]["role"].get<std::string>(), std::string("assistant"));
    std::string reasoning, content;
    int deltas = 0;
    for (size_t i = 1; i + 3 < events.size(); ++i) {
      const json c = json::parse(events[i]);
      QCOMPARE(c["id"], first["id"]);
      QVERIFY(c["choices"][0]["finish_reason"].is_null());
      QVERIFY(c["usage"].is_null());
      const json& d = c["choices"][0]["delta"];
      reasoning += d.value("reasoning_content", "");
      content += d.value("content", "");
      ++deltas;
    }
    QVERIFY(deltas > 1);
    QCOMPARE(reasoning, expected_.thinking);
    QCOMPARE(content, expected_.answer);
    const json finish = json::parse(events[events.size() - 3]);
    QCOMPARE(finish["choices"][0]["finish_reason"].get<std::string>(), std::string("stop"));
    QVERIFY(finish["timings"]["predicted_ms"].get<double>() > 0);
    const json usage = json::parse(events[events.size() - 2]);
    QVERIFY(usage["choices"].empty());
    QCOMPARE(usage["usage"]["completion_tokens"].get<int64_t>(), expected_.completion_tokens);
    QCOMPARE(usage["usage"]["prompt_tokens"].get<int64_t>(), expected_.prompt_tokens);
  }

  void completions_endpoint_continues_a_prompt() {
    const json body = {{"model", "r1-tiny"}, {"prompt", "Using the numbers"},
                       {"max_tokens", 8},    {"temperature", 0},
                       {"ignore_eos", true}, {"stop", json::array()}};
    const HttpReply r = call(port(), "POST", "/v1/completions", body.dump());
    QCOMPARE(r.status, 200);
    const json j = json::parse(r.body);
    QCOMPARE(j["object"].get<std::string>(), std::string("text_completion"));
    QVERIFY(!j["choices"][0]["text"].get<std::string>().empty());
    QCOMPARE(j["choices"][0]["finish_reason"].get<std::string>(), std::string("length"));
    QCOMPARE(j["usage"]["completion_tokens"].get<int64_t>(), int64_t(8));
    QCOMPARE(j["usage"]["prompt_tokens"].get<int64_t>(),
             int64_t(server_->model().tokenizer->encode("Using the numbers").size()));
  }

  void stop_strings_end_the_reply_before_them() {
    // The reference answer's text up to its first character: stopping there leaves the thinking only.
    json body = chat_body(kReplyTokens);
    body["stop"] = json::array({expected_.answer.substr(0, 3)});
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", body.dump());
    QCOMPARE(r.status, 200);
    const json choice = json::parse(r.body)["choices"][0];
    QCOMPARE(choice["finish_reason"].get<std::string>(), std::string("stop"));
    QCOMPARE(choice["message"]["reasoning_content"].get<std::string>(), expected_.thinking);
    QVERIFY(choice["message"]["content"].get<std::string>().find(expected_.answer.substr(0, 3)) ==
            std::string::npos);
  }

  void stop_matcher_holds_back_only_possible_stops_data() {
    QTest::addColumn<QStringList>("pieces");
    QTest::addColumn<QStringList>("stops");
    QTest::addColumn<QString>("first");  // what the first push lets through
    QTest::addColumn<QString>("text");   // everything let through, finish() included
    QTest::addColumn<bool>("hit");
    QTest::newRow("split across pieces")
        << QStringList{"Hello, wo", "rl", "d! more"} << QStringList{"world"} << "Hello, "
        << "Hello, " << true;
    QTest::newRow("false start released") << QStringList{"ab", "d"} << QStringList{"abc"} << ""
                                          << "abd" << false;
    QTest::newRow("earliest of several") << QStringList{"x END y STOP"} << QStringList{"STOP", "END"} << "x "
                                         << "x " << true;
    QTest::newRow("no stops") << QStringList{"a", "b"} << QStringList{} << "a"
                              << "ab" << false;
    QTest::newRow("tail released at the end") << QStringList{"the ST"} << QStringList{"STOP"} << "the "
                                              << "the ST" << false;
  }

  void stop_matcher_holds_back_only_possible_stops() {
    QFETCH(QStringList, pieces);
    QFETCH(QStringList, stops);
    QFETCH(QString, first);
    QFETCH(QString, text);
    QFETCH(bool, hit);
    std::vector<std::string> stop_list;
    for (const QString& s : stops) stop_list.push_back(s.toStdString());
    server::StopMatcher m(stop_list);
    std::string out;
    for (qsizetype i = 0; i < pieces.size(); ++i) {
      const std::string got = m.push(pieces[i].toStdString());
      if (i == 0) QCOMPARE(got, first.toStdString());
      out += got;
    }
    out += m.finish();
    QCOMPARE(out, text.toStdString());
    QCOMPARE(m.hit(), hit);
  }

  void bad_requests_give_openai_errors_data() {
    QTest::addColumn<QString>("body");
    QTest::addColumn<QString>("param");  // empty: null
    QTest::addColumn<QString>("fragment");
    QTest::newRow("malformed json") << "{\"messages\": ["
                                    << ""
                                    << "parse";
    QTest::newRow("not an object") << "[1, 2]"
                                   << ""
                                   << "object";
    QTest::newRow("unknown field") << R"({"messages":[{"role":"user","content":"hi"}],"frobnicate":1})"
                                   << "frobnicate"
                                   << "frobnicate";
    QTest::newRow("unknown message field") << R"({"messages":[{"role":"user","content":"hi","mood":1}]})"
                                           << "messages[0].mood"
                                           << "mood";
    QTest::newRow("wrong type") << R"({"messages":[{"role":"user","content":"hi"}],"temperature":"hot"})"
                                << "temperature"
                                << "number";
    QTest::newRow("out of range") << R"({"messages":[{"role":"user","content":"hi"}],"top_p":3})"
                                  << "top_p"
                                  << "top_p";
    QTest::newRow("n above one") << R"({"messages":[{"role":"user","content":"hi"}],"n":2})"
                                 << "n"
                                 << "n=1";
    QTest::newRow("no messages") << R"({"model":"r1-tiny"})"
                                 << "messages"
                                 << "required";
    QTest::newRow("empty messages") << R"({"messages":[]})"
                                    << "messages"
                                    << "non-empty";
    QTest::newRow("bad role") << R"({"messages":[{"role":"robot","content":"hi"}]})"
                              << "messages[0].role"
                              << "robot";
  }

  void bad_requests_give_openai_errors() {
    QFETCH(QString, body);
    QFETCH(QString, param);
    QFETCH(QString, fragment);
    const HttpReply r = call(port(), "POST", "/v1/chat/completions", body.toStdString());
    const std::string p = param.toStdString();
    expect_error(r, 400, p.empty() ? nullptr : p.c_str(), fragment.toStdString().c_str());
    QCOMPARE(json::parse(r.body)["error"]["type"].get<std::string>(), std::string("invalid_request_error"));
    QCOMPARE(stats().steps, int64_t(0));  // nothing reached the model
  }

  void api_key_is_required_when_set() {
    server::ServerOptions o;
    o.api_key = "sk-local-test";
    restart(o);
    const HttpReply none = call(port(), "GET", "/v1/models");
    expect_error(none, 401, nullptr);
    QCOMPARE(json::parse(none.body)["error"]["code"].get<std::string>(), std::string("invalid_api_key"));
    expect_error(call(port(), "GET", "/v1/models", {}, "Authorization: Bearer sk-wrong\r\n"), 401, nullptr);
    expect_error(call(port(), "POST", "/v1/chat/completions", chat_body(4).dump()), 401, nullptr);
    QCOMPARE(call(port(), "GET", "/v1/models", {}, "Authorization: Bearer sk-local-test\r\n").status, 200);
    QCOMPARE(call(port(), "POST", "/v1/chat/completions", chat_body(4).dump(),
                  "Authorization: Bearer sk-local-test\r\n")
                 .status,
             200);
  }

  void oversized_bodies_and_headers_are_refused() {
    const server::HttpLimits limits;
    const std::string big(limits.max_body_bytes + 1, ' ');
    const HttpReply body = call(port(), "POST", "/v1/chat/completions", big);
    expect_error(body, 413, nullptr, "larger than");
    const std::string huge_header = "X-Padding: " + std::string(limits.max_header_bytes, 'a') + "\r\n";
    expect_error(call(port(), "GET", "/v1/models", {}, huge_header), 431, nullptr);
  }

  void unknown_paths_and_methods() {
    expect_error(call(port(), "GET", "/v1/embeddings"), 404, nullptr, "/v1/embeddings");
    expect_error(call(port(), "GET", "/"), 404, nullptr);
    const HttpReply get_chat = call(port(), "GET", "/v1/chat/completions");
    expect_error(get_chat, 405, nullptr, "GET");
    QCOMPARE(get_chat.headers.at("allow"), std::string("POST"));
    expect_error(call(port(), "POST", "/v1/models", "{}"), 405, nullptr);
    expect_error(round_trip(port(), "GARBAGE\r\n\r\n"), 400, nullptr);
  }

  // The load generator behind `r1wb bench serve`: many clients streaming at once over keep-alive
  // connections, every response whole; and it does count a response that is not (401 without the key).
  void many_streaming_clients_all_complete() {
    server::ServerOptions o;
    o.max_sequences = 8;
    o.max_connections = 40;
    restart(o);
    server::LoadOptions lo;
    lo.port = port();
    lo.clients = 24;
    lo.seconds = 3;
    lo.max_tokens = 8;
    const server::LoadResult r = server::run_load(lo);
    QVERIFY2(r.errors == 0, r.error_examples.empty() ? "" : r.error_examples.front().c_str());
    QVERIFY(r.requests >= lo.clients);
    QVERIFY(r.completion_tokens >= r.requests);
    QCOMPARE(int64_t(r.latency_s.size()), r.requests);
    QTRY_COMPARE(stats().sequences_active, 0);

    o.api_key = "secret";
    restart(o);
    lo.port = port();
    lo.clients = 2;
    lo.seconds = 0.5;
    const server::LoadResult refused = server::run_load(lo);
    QCOMPARE(refused.requests, int64_t(0));
    QVERIFY(refused.errors >= 2);
    QVERIFY2(refused.error_examples.front().find("HTTP/1.1 401") != std::string::npos,
             refused.error_examples.front().c_str());
  }

  void concurrent_requests_are_batched() {
    server_->scheduler().set_paused(true);
    Client a(port()), b(port());
    QVERIFY(a.connected() && b.connected());
    json body_b = chat_body(12);
    body_b["ignore_eos"] = true;
    a.send(request_text("POST", "/v1/chat/completions", chat_body(kReplyTokens).dump()));
    b.send(request_text("POST", "/v1/chat/completions", body_b.dump()));
    QTRY_COMPARE(stats().waiting, 2);
    QCOMPARE(stats().largest_batch, 0);
    server_->scheduler().set_paused(false);
    std::string raw_a, raw_b;
    QVERIFY(a.read_to_end(raw_a));
    QVERIFY(b.read_to_end(raw_b));
    HttpReply ra, rb;
    QVERIFY(parse_reply(raw_a, 0, ra) != std::string::npos);
    QVERIFY(parse_reply(raw_b, 0, rb) != std::string::npos);
    QCOMPARE(ra.status, 200);
    QCOMPARE(rb.status, 200);
    QVERIFY(!json::parse(ra.body)["choices"][0]["message"]["reasoning_content"].get<std::string>().empty());
    QCOMPARE(json::parse(rb.body)["usage"]["completion_tokens"].get<int64_t>(), int64_t(12));
    QVERIFY(stats().largest_batch >= 2);
    QCOMPARE(stats().completed, int64_t(2));
    QTRY_COMPARE(stats().sequences_active, 0);  // published after the step that retired them
  }

  void disconnect_mid_stream_frees_the_sequence() {
    json body = chat_body(100000, true);
    body.erase("max_tokens");
    body["ignore_eos"] = true;  // runs to the end of the context unless cancelled
    server_->scheduler().set_paused(true);
    Client c(port());
    QVERIFY(c.connected());
    c.send(request_text("POST", "/v1/chat/completions", body.dump()));
    QTRY_COMPARE(stats().waiting, 1);
    server_->scheduler().step_while_paused(3);  // admit it and generate three tokens, then hold it there
    std::string got;
    QVERIFY(c.read_until(got, "reasoning_content"));
    QTRY_COMPARE(stats().steps, int64_t(3));
    QTRY_COMPARE(stats().sequences_active, 1);
    QCOMPARE(stats().active, 1);
    c.abort();
    QTRY_COMPARE(stats().sequences_active, 0);
    QCOMPARE(stats().active, 0);
    QCOMPARE(stats().cancelled, int64_t(1));
    QCOMPARE(stats().completed, int64_t(0));
    server_->scheduler().set_paused(false);
    QCOMPARE(call(port(), "POST", "/v1/chat/completions", chat_body(4).dump()).status, 200);
  }
};

QTEST_GUILESS_MAIN(TestServer)
#include "tst_server.moc"
