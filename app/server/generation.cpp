#include "generation.h"

#include <memory>
#include <random>

#include "engine/core/error.h"

namespace r1::server {
namespace {

// How often a waiting request checks whether its client is still there.
constexpr auto kClientCheck = std::chrono::milliseconds(50);
// /v1/completions without max_tokens generates this many, as OpenAI's does.
constexpr int64_t kCompletionDefaultTokens = 16;

uint64_t random_seed() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

JobRequest make_job(ApiKind kind, const ApiRequest& api, const ServedModel& model, int64_t max_context,
                    ReasoningFormat format) {
  JobRequest job;
  job.sampling = api.sampling;
  if (!api.seed_given) job.sampling.seed = random_seed();
  job.ignore_eos = api.ignore_eos;
  job.stop = api.stop;
  if (kind == ApiKind::Chat) {
    job.prompt = model.chat_prompt(api.messages);
    job.split_reasoning = format == ReasoningFormat::DeepSeek;
    job.starts_thinking = model.starts_thinking;
    // The prompt opened the thought, so the raw reply lacks the opening tag; content shows it whole.
    if (format == ReasoningFormat::None && model.starts_thinking) job.content_prefix = "<think>\n";
    if (!api.ignore_eos)
      job.stop.insert(job.stop.end(), model.stop_strings.begin(), model.stop_strings.end());
    job.max_tokens = api.max_tokens.value_or(max_context);
  } else {
    job.prompt = model.tokenizer->encode(api.prompt);
    job.max_tokens = api.max_tokens.value_or(kCompletionDefaultTokens);
  }
  if (int64_t(job.prompt.size()) >= max_context)
    throw ApiError(400,
                   "This model's maximum context length is " + std::to_string(max_context) +
                       " tokens. However, your " + (kind == ApiKind::Chat ? "messages" : "prompt") +
                       " resulted in " + std::to_string(job.prompt.size()) + " tokens.",
                   "invalid_request_error", kind == ApiKind::Chat ? "messages" : "prompt",
                   "context_length_exceeded");
  return job;
}

void send_error(HttpConnection& conn, const ApiError& e) {
  conn.send_response(e.status, "application/json", error_body(e));
}

ApiError job_failure(const JobResult& r) {
  if (r.reason == FinishReason::Error) return ApiError(500, "generation failed: " + r.error, "server_error");
  return ApiError(503, "the server is shutting down", "server_error");
}

// Waits for the job while the client is there; false when the client left (the job is then cancelled).
bool wait_step(Job& job, HttpConnection& conn, Job::Progress& p) {
  p = job.take(kClientCheck);
  if (p.finished || !conn.peer_closed()) return true;
  job.cancel();
  conn.set_keep_alive(false);
  return false;
}

void answer_whole(Job& job, HttpConnection& conn, const ResponseMeta& meta) {
  std::string reasoning, content;
  Job::Progress p;
  do {
    if (!wait_step(job, conn, p)) return;
    reasoning += p.reasoning;
    content += p.content;
  } while (!p.finished);
  const JobResult result = job.result();
  if (result.reason == FinishReason::Error || result.reason == FinishReason::Cancelled)
    return send_error(conn, job_failure(result));
  conn.send_response(200, "application/json", response_body(meta, reasoning, content, result));
}

void answer_stream(Job& job, HttpConnection& conn, const ResponseMeta& meta) {
  const auto gone = [&] {
    job.cancel();
    conn.set_keep_alive(false);
  };
  if (!conn.begin_chunked(200, "text/event-stream", {{"Cache-Control", "no-cache"}})) return gone();
  if (meta.kind == ApiKind::Chat && !conn.send_chunk(sse(role_chunk(meta)))) return gone();
  Job::Progress p;
  do {
    if (!wait_step(job, conn, p)) return;
    if ((!p.reasoning.empty() || !p.content.empty()) &&
        !conn.send_chunk(sse(delta_chunk(meta, p.reasoning, p.content))))
      return gone();
  } while (!p.finished);
  const JobResult result = job.result();
  std::string tail;
  if (result.reason == FinishReason::Error || result.reason == FinishReason::Cancelled) {
    tail = sse(Json::parse(error_body(job_failure(result))));
  } else {
    tail = sse(finish_chunk(meta, result));
    if (meta.usage_in_stream) tail += sse(usage_chunk(meta, result));
    tail += sse_done();
  }
  if (!conn.send_chunk(tail) || !conn.end_chunked()) conn.set_keep_alive(false);
}

}  // namespace

ReasoningFormat parse_reasoning_format(const std::string& name) {
  if (name == "deepseek") return ReasoningFormat::DeepSeek;
  if (name == "none") return ReasoningFormat::None;
  fail("unknown reasoning format \"", name, "\" (expected deepseek or none)");
}

void serve_generation(ApiKind kind, const HttpRequest& request, HttpConnection& conn,
                      const ServedModel& model, Scheduler& scheduler, ReasoningFormat format) {
  std::shared_ptr<Job> job;
  ResponseMeta meta;
  bool stream = false;
  try {
    const ApiRequest api = parse_request(kind, request.body);
    JobRequest job_request = make_job(kind, api, model, scheduler.max_context(), format);
    try {
      job = scheduler.submit(std::move(job_request));
    } catch (const Error& e) {
      throw ApiError(503, e.what(), "server_error");
    }
    meta = make_meta(kind, model.id, format == ReasoningFormat::DeepSeek);
    meta.usage_in_stream = api.include_usage;
    stream = api.stream;
  } catch (const ApiError& e) {
    return send_error(conn, e);
  }
  // However the answer ends, a job still running has no one left to read it.
  const std::unique_ptr<Job, void (*)(Job*)> cancel_unfinished(job.get(), [](Job* j) {
    if (!j->finished()) j->cancel();
  });
  if (stream) {
    answer_stream(*job, conn, meta);
  } else {
    answer_whole(*job, conn, meta);
  }
}

}  // namespace r1::server
