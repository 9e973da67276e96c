#pragma once
// One /v1/chat/completions or /v1/completions request: checked, turned into a scheduler job, and answered
// whole or as server-sent events while the job's text arrives. A client that goes away cancels its job.
#include <string>

#include "http_connection.h"
#include "openai_api.h"
#include "scheduler.h"
#include "served_model.h"

namespace r1::server {

// deepseek: a chat reply's thinking goes to reasoning_content; none: it stays inside content.
enum class ReasoningFormat { DeepSeek, None };
ReasoningFormat parse_reasoning_format(const std::string& name);  // deepseek, none

void serve_generation(ApiKind kind, const HttpRequest& request, HttpConnection& conn,
                      const ServedModel& model, Scheduler& scheduler, ReasoningFormat format);

}  // namespace r1::server
