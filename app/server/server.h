#pragma once
// `r1wb serve`: an OpenAI-compatible HTTP server for one model. GET /v1/models, POST /v1/chat/completions and
// POST /v1/completions, whole or streamed as server-sent events; a chat reply's reasoning goes to
// reasoning_content apart from content (DeepSeek's API) unless the reasoning format is none. Requests run
// concurrently through one continuous-batching scheduler.
#include <filesystem>
#include <memory>
#include <string>

#include "engine/runtime/runtime.h"
#include "generation.h"
#include "http_server.h"
#include "scheduler.h"
#include "served_model.h"

namespace r1::server {

struct ServerOptions {
  std::filesystem::path model_dir;
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (see Server::port)
  std::string api_key;  // non-empty: every /v1 request needs "Authorization: Bearer <key>"
  ReasoningFormat reasoning = ReasoningFormat::DeepSeek;
  int max_sequences = 16;  // requests generating at once; more wait their turn
  int64_t context = 0;     // tokens per sequence; 0: min(the model's context, 4096)
  Device device = Device::Cpu;
  HttpLimits limits;
  int max_connections = 64;
};

class Server {
 public:
  // Loads the model and plans the runtime; throws r1::Error naming what is wrong.
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving; throws r1::Error when the address cannot be used.
  void start();
  // Closes every connection (their generations are cancelled), then stops the scheduler.
  void stop();

  int port() const { return http_->port(); }
  const std::string& host() const { return options_.host; }
  const ServedModel& model() const { return model_; }
  Scheduler& scheduler() { return *scheduler_; }

 private:
  void handle(const HttpRequest& request, HttpConnection& conn);
  bool authorized(const HttpRequest& request) const;

  ServerOptions options_;
  ServedModel model_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace r1::server
