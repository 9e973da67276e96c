#pragma once
// The OpenAI wire format: request bodies of /v1/chat/completions and /v1/completions checked and turned into
// generation settings, and the JSON of responses, stream chunks and errors. Unknown fields, wrong types and
// out-of-range values are ApiErrors (400, "invalid_request_error") naming the field in `param`.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/runtime/sampler.h"
#include "engine/tokenizer/chat_template.h"
#include "scheduler.h"

namespace r1::server {

// Responses keep their fields in the order OpenAI documents them.
using Json = nlohmann::ordered_json;

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::string param = {}, std::string code = {});
  int status;
  std::string type, param, code;  // param and code empty: JSON null
};

// {"error": {"message", "type", "param", "code"}}
std::string error_body(const ApiError& e);
// The error for a status the HTTP layer answers by itself (413, 431, 408, 503...).
std::string error_body(int status, const std::string& message);

enum class ApiKind { Chat, Completion };

struct ApiRequest {
  ApiKind kind = ApiKind::Chat;
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completion
  std::optional<int64_t> max_tokens;
  SamplingParams sampling;
  bool seed_given = false;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;
};

// Throws ApiError for malformed JSON, unknown fields and bad values.
ApiRequest parse_request(ApiKind kind, std::string_view body);

// What every response of one request shares.
struct ResponseMeta {
  ApiKind kind = ApiKind::Chat;
  std::string id;  // chatcmpl-… or cmpl-…
  int64_t created = 0;
  std::string model;
  bool reasoning_field = true;  // chat: send reasoning_content (the deepseek reasoning format)
  bool usage_in_stream =
      false;  // stream_options.include_usage: every chunk carries "usage" (null until the last)
};
ResponseMeta make_meta(ApiKind kind, const std::string& model, bool reasoning_field);

Json usage_json(const JobResult& r);
Json timings_json(const JobResult& r);

// A whole (non-streamed) response.
std::string response_body(const ResponseMeta& meta, const std::string& reasoning, const std::string& content,
                          const JobResult& result);

// Server-sent events: "data: {json}\n\n" frames.
std::string sse(const Json& chunk);
std::string sse_done();  // "data: [DONE]\n\n"
// The first chat chunk (role only), a text delta, the finishing chunk (with timings), the usage chunk.
Json role_chunk(const ResponseMeta& meta);
Json delta_chunk(const ResponseMeta& meta, const std::string& reasoning, const std::string& content);
Json finish_chunk(const ResponseMeta& meta, const JobResult& result);
Json usage_chunk(const ResponseMeta& meta, const JobResult& result);

// "stop" or "length" as OpenAI names them.
const char* openai_finish_reason(FinishReason r);

std::string dump_json(const Json& j);  // invalid UTF-8 replaced, never throws for it

}  // namespace r1::server
