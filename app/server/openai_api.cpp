#include "openai_api.h"

#include <chrono>
#include <cmath>
#include <random>
#include <set>

namespace r1::server {
namespace {

using json = Json;

constexpr size_t kMaxStopStrings = 4;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param);
}

double number_in(const json& v, const std::string& name, double lo, double hi, bool lo_open = false) {
  if (!v.is_number()) bad(name, name + " must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x > hi || x < lo || (lo_open && x == lo)) {
    std::string range = (lo_open ? "(" : "[") + json(lo).dump() + ", " + json(hi).dump() + "]";
    bad(name, name + " must be in " + range + ", got " + v.dump());
  }
  return x;
}

int64_t integer_in(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  bool integral = v.is_number_integer();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    integral = std::isfinite(x) && x == std::floor(x) && std::abs(x) < 9e15;
  }
  if (!integral) bad(name, name + " must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) bad(name, name + " is too large");
  const int64_t x = v.is_number_float() ? int64_t(v.get<double>()) : v.get<int64_t>();
  if (x < lo || x > hi)
    bad(name, name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

bool boolean(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad(name, name + " must be true or false");
  return v.get<bool>();
}

std::string text_content(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) bad(name, name + " must be a string or an array of text parts");
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string part = name + "[" + std::to_string(i) + "]";
    const json& p = v[i];
    if (!p.is_object() || !p.contains("type") || p["type"] != "text" || !p.contains("text") ||
        !p["text"].is_string())
      bad(part, part + " must be {\"type\": \"text\", \"text\": \"...\"}; only text parts are supported");
    for (const auto& [key, value] : p.items())
      if (key != "type" && key != "text")
        bad(part + "." + key, "Unrecognized request argument supplied: " + key);
    text += p["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& v) {
  if (!v.is_array() || v.empty()) bad("messages", "messages must be a non-empty array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const json& m = v[i];
    if (!m.is_object()) bad(at, at + " must be an object");
    for (const auto& [key, value] : m.items())
      if (key != "role" && key != "content" && key != "name" && key != "reasoning_content")
        bad(at + "." + key, "Unrecognized request argument supplied: " + key);
    if (!m.contains("role") || !m["role"].is_string()) bad(at + ".role", at + ".role must be a string");
    ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      bad(at + ".role",
          at + ".role \"" + msg.role + "\" is not supported (system, developer, user, assistant)");
    const json content = m.value("content", json());
    if (content.is_null()) {
      if (msg.role != "assistant") bad(at + ".content", at + ".content is required");
    } else {
      msg.content = text_content(content, at + ".content");
    }
    if (m.contains("name") && !m["name"].is_string()) bad(at + ".name", at + ".name must be a string");
    const json reasoning = m.value("reasoning_content", json());
    if (!reasoning.is_null()) {
      if (!reasoning.is_string()) bad(at + ".reasoning_content", at + ".reasoning_content must be a string");
      msg.reasoning = reasoning.get<std::string>();
    }
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<std::string> parse_stop(const json& v) {
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array() || v.size() > kMaxStopStrings)
    bad("stop",
        "stop must be a string or an array of at most " + std::to_string(kMaxStopStrings) + " strings");
  std::vector<std::string> out;
  for (const json& s : v) {
    if (!s.is_string()) bad("stop", "stop must be a string or an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

json null_or(const std::string& s) {
  return s.empty() ? json() : json(s);
}

json chunk_base(const ResponseMeta& meta) {
  json j = {{"id", meta.id},
            {"object", meta.kind == ApiKind::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", meta.created},
            {"model", meta.model}};
  if (meta.usage_in_stream) j["usage"] = nullptr;
  return j;
}

json stream_choice(const ResponseMeta& meta, json delta, const char* finish_reason) {
  json c = {{"index", 0}};
  if (meta.kind == ApiKind::Chat) {
    c["delta"] = std::move(delta);
  } else {
    c["text"] = delta.value("content", std::string());
  }
  c["logprobs"] = nullptr;
  c["finish_reason"] = finish_reason ? json(finish_reason) : json();
  return c;
}

}  // namespace

ApiError::ApiError(int status_, std::string message, std::string type_, std::string param_, std::string code_)
    : std::runtime_error(std::move(message)),
      status(status_),
      type(std::move(type_)),
      param(std::move(param_)),
      code(std::move(code_)) {}

std::string error_body(const ApiError& e) {
  const json j = {
      {"error",
       {{"message", e.what()}, {"type", e.type}, {"param", null_or(e.param)}, {"code", null_or(e.code)}}}};
  return dump_json(j);
}

std::string error_body(int status, const std::string& message) {
  std::string code;
  if (status == 413) code = "request_too_large";
  if (status == 408) code = "request_timeout";
  return error_body(
      ApiError(status, message, status >= 500 ? "server_error" : "invalid_request_error", {}, code));
}

ApiRequest parse_request(ApiKind kind, std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers such as 1e400
    throw ApiError(400, std::string("We could not parse the JSON body of your request: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  static const std::set<std::string> common = {"model",
                                               "max_tokens",
                                               "temperature",
                                               "top_p",
                                               "top_k",
                                               "min_p",
                                               "seed",
                                               "stop",
                                               "stream",
                                               "n",
                                               "ignore_eos",
                                               "user",
                                               "repetition_penalty",
                                               "stream_options",
                                               "frequency_penalty",
                                               "presence_penalty"};
  ApiRequest r;
  r.kind = kind;
  bool have_messages = false, have_prompt = false;
  for (const auto& [key, value] : j.items()) {
    const bool own =
        kind == ApiKind::Chat ? key == "messages" || key == "max_completion_tokens" : key == "prompt";
    if (!own && !common.count(key)) bad(key, "Unrecognized request argument supplied: " + key);
    if (value.is_null()) continue;
    if (key == "model") {
      if (!value.is_string()) bad(key, "model must be a string");
    } else if (key == "messages") {
      r.messages = parse_messages(value);
      have_messages = true;
    } else if (key == "prompt") {
      if (value.is_array() && value.size() == 1 && value[0].is_string()) {
        r.prompt = value[0].get<std::string>();
      } else if (value.is_string()) {
        r.prompt = value.get<std::string>();
      } else {
        bad(key, "prompt must be a string (token-id prompts and several prompts are not supported)");
      }
      if (r.prompt.empty()) bad(key, "prompt must not be empty");
      have_prompt = true;
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      const int64_t n = integer_in(value, key, 1, INT32_MAX);
      if (key == "max_completion_tokens" || !r.max_tokens) r.max_tokens = n;
    } else if (key == "temperature") {
      r.sampling.temperature = float(number_in(value, key, 0, 2));
    } else if (key == "top_p") {
      r.sampling.top_p = float(number_in(value, key, 0, 1, true));
    } else if (key == "top_k") {
      r.sampling.top_k = int(std::max<int64_t>(integer_in(value, key, -1, INT32_MAX), 0));  // -1: off
    } else if (key == "min_p") {
      r.sampling.min_p = float(number_in(value, key, 0, 0.999999));
    } else if (key == "repetition_penalty") {
      r.sampling.repetition_penalty = float(number_in(value, key, 0, 10, true));
    } else if (key == "frequency_penalty" || key == "presence_penalty") {
      if (number_in(value, key, -2, 2) != 0) bad(key, key + " is not supported; use repetition_penalty");
    } else if (key == "seed") {
      r.sampling.seed = uint64_t(integer_in(value, key, INT64_MIN, INT64_MAX));
      r.seed_given = true;
    } else if (key == "stop") {
      r.stop = parse_stop(value);
    } else if (key == "stream") {
      r.stream = boolean(value, key);
    } else if (key == "n") {
      if (integer_in(value, key, 1, 128) != 1) bad(key, "only n=1 is supported");
    } else if (key == "ignore_eos") {
      r.ignore_eos = boolean(value, key);
    } else if (key == "user") {
      if (!value.is_string()) bad(key, "user must be a string");
    }
  }
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    const json& so = j["stream_options"];
    if (!r.stream) bad("stream_options", "stream_options is only allowed when stream is true");
    if (!so.is_object()) bad("stream_options", "stream_options must be an object");
    for (const auto& [key, value] : so.items()) {
      if (key != "include_usage")
        bad("stream_options." + key, "Unrecognized request argument supplied: stream_options." + key);
      r.include_usage = boolean(value, "stream_options.include_usage");
    }
  }
  if (kind == ApiKind::Chat && !have_messages) bad("messages", "messages is required");
  if (kind == ApiKind::Completion && !have_prompt) bad("prompt", "prompt is required");
  return r;
}

ResponseMeta make_meta(ApiKind kind, const std::string& model, bool reasoning_field) {
  ResponseMeta m;
  m.kind = kind;
  m.id = random_id(kind == ApiKind::Chat ? "chatcmpl-" : "cmpl-");
  m.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  m.model = model;
  m.reasoning_field = reasoning_field && kind == ApiKind::Chat;
  return m;
}

const char* openai_finish_reason(FinishReason r) {
  return r == FinishReason::Length ? "length" : "stop";
}

json usage_json(const JobResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens}};
}

json timings_json(const JobResult& r) {
  return {{"queued_ms", r.queued_ms},
          {"prompt_n", r.prompt_tokens},
          {"prompt_ms", r.prompt_ms},
          {"prompt_per_second", r.prompt_per_second()},
          {"predicted_n", r.completion_tokens},
          {"predicted_ms", r.predicted_ms},
          {"predicted_per_second", r.predicted_per_second()}};
}

std::string response_body(const ResponseMeta& meta, const std::string& reasoning, const std::string& content,
                          const JobResult& result) {
  json choice = {{"index", 0}};
  if (meta.kind == ApiKind::Chat) {
    json message = {{"role", "assistant"}, {"content", content}};
    if (meta.reasoning_field) message["reasoning_content"] = null_or(reasoning);
    choice["message"] = std::move(message);
  } else {
    choice["text"] = content;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = openai_finish_reason(result.reason);
  const json j = {{"id", meta.id},
                  {"object", meta.kind == ApiKind::Chat ? "chat.completion" : "text_completion"},
                  {"created", meta.created},
                  {"model", meta.model},
                  {"choices", json::array({std::move(choice)})},
                  {"usage", usage_json(result)},
                  {"timings", timings_json(result)}};
  return dump_json(j);
}

std::string sse(const json& chunk) {
  return "data: " + dump_json(chunk) + "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

json role_chunk(const ResponseMeta& meta) {
  json j = chunk_base(meta);
  j["choices"] = json::array({stream_choice(meta, {{"role", "assistant"}, {"content", ""}}, nullptr)});
  return j;
}

json delta_chunk(const ResponseMeta& meta, const std::string& reasoning, const std::string& content) {
  json delta = json::object();
  if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
  if (!content.empty()) delta["content"] = content;
  json j = chunk_base(meta);
  j["choices"] = json::array({stream_choice(meta, std::move(delta), nullptr)});
  return j;
}

json finish_chunk(const ResponseMeta& meta, const JobResult& result) {
  json j = chunk_base(meta);
  j["choices"] = json::array({stream_choice(meta, json::object(), openai_finish_reason(result.reason))});
  j["timings"] = timings_json(result);
  return j;
}

json usage_chunk(const ResponseMeta& meta, const JobResult& result) {
  json j = chunk_base(meta);
  j["choices"] = json::array();
  j["usage"] = usage_json(result);
  j["timings"] = timings_json(result);
  return j;
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace r1::server
