#include "server.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace r1::server {
namespace {

using json = Json;

constexpr int64_t kDefaultMaxContext = 4096;

struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {
    {"/health", "GET"}, {"/v1/models", "GET"}, {"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"}};

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

void send_json(HttpConnection& conn, int status, const json& body, const HeaderList& extra = {}) {
  conn.send_response(status, "application/json", dump_json(body), extra);
}

void send_error(HttpConnection& conn, const ApiError& e, const HeaderList& extra = {}) {
  conn.send_response(e.status, "application/json", error_body(e), extra);
}

}  // namespace

Server::Server(const ServerOptions& options)
    : options_(options), model_(ServedModel::load(options.model_dir)) {
  if (options_.max_sequences < 1) fail("the number of parallel sequences must be at least 1");
  RuntimeOptions ro;
  ro.device = options_.device;
  ro.max_sequences = options_.max_sequences;
  ro.max_context = options_.context > 0
                       ? options_.context
                       : std::min<int64_t>(model_.model->config.max_position_embeddings, kDefaultMaxContext);
  scheduler_ = std::make_unique<Scheduler>(model_, create_runtime(model_.model, ro));
  http_ = std::make_unique<HttpServer>(
      options_.limits, [this](const HttpRequest& r, HttpConnection& c) { handle(r, c); },
      [](int status, const std::string& message) { return error_body(status, message); },
      options_.max_connections);
}

Server::~Server() {
  stop();
}

void Server::start() {
  http_->listen(options_.host, options_.port);
}

void Server::stop() {
  http_->stop();
  scheduler_->stop();
}

bool Server::authorized(const HttpRequest& request) const {
  if (options_.api_key.empty()) return true;
  const std::string* auth = request.header("authorization");
  if (!auth || auth->size() < 7) return false;
  std::string scheme = auth->substr(0, 7);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return scheme == "bearer " && equal_in_constant_time(auth->substr(7), options_.api_key);
}

void Server::handle(const HttpRequest& request, HttpConnection& conn) {
  const std::string& path = request.path;
  if (path == "/v1" || path.rfind("/v1/", 0) == 0) {
    if (!authorized(request))
      return send_error(
          conn,
          ApiError(401,
                   request.header("authorization") ? "Incorrect API key provided."
                                                   : "You didn't provide an API key. Send it as "
                                                     "\"Authorization: Bearer <key>\".",
                   "invalid_request_error", {}, "invalid_api_key"),
          {{"WWW-Authenticate", "Bearer"}});
  }
  const json model_object = {{"id", model_.id},
                             {"object", "model"},
                             {"created", model_.created},
                             {"owned_by", "r1wb"},
                             {"max_model_len", scheduler_->max_context()}};
  const std::string models_prefix = "/v1/models/";
  if (request.method == "GET" && path.rfind(models_prefix, 0) == 0 && path.size() > models_prefix.size()) {
    if (path.substr(models_prefix.size()) != model_.id)
      return send_error(conn,
                        ApiError(404, "The model '" + path.substr(models_prefix.size()) + "' does not exist",
                                 "invalid_request_error", "model", "model_not_found"));
    return send_json(conn, 200, model_object);
  }
  for (const Route& route : kRoutes) {
    if (path != route.path) continue;
    if (request.method != route.method)
      return send_error(
          conn,
          ApiError(405, "Method " + request.method + " is not allowed for " + path + "; use " + route.method),
          {{"Allow", route.method}});
    if (path == "/health") return send_json(conn, 200, {{"status", "ok"}});
    if (path == "/v1/models")
      return send_json(conn, 200, {{"object", "list"}, {"data", json::array({model_object})}});
    const ApiKind kind = path == "/v1/chat/completions" ? ApiKind::Chat : ApiKind::Completion;
    return serve_generation(kind, request, conn, model_, *scheduler_, options_.reasoning);
  }
  send_error(conn, ApiError(404, "Invalid URL (" + request.method + " " + path + ")"));
}

}  // namespace r1::server
