#include "scheduler.h"

#include <algorithm>

#include "engine/core/error.h"
#include "engine/tokenizer/reasoning.h"
#include "stop_matcher.h"

namespace r1::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

ReasoningParser::Options parser_options(bool starts_thinking) {
  ReasoningParser::Options o;
  o.starts_in_thinking = starts_thinking;
  return o;
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    case FinishReason::Error:
      return "error";
  }
  return "?";
}

double JobResult::predicted_per_second() const {
  // The first token comes from the prefill; the rest are the decode.
  return completion_tokens > 1 && predicted_ms > 0 ? double(completion_tokens - 1) * 1e3 / predicted_ms : 0.0;
}

double JobResult::prompt_per_second() const {
  return prompt_ms > 0 ? double(prompt_tokens) * 1e3 / prompt_ms : 0.0;
}

Job::Job(Scheduler* owner, JobRequest request)
    : owner_(owner), request_(std::move(request)), submitted_(Clock::now()) {}

Job::Progress Job::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return finished_ || !reasoning_.empty() || !content_.empty(); });
  Progress p;
  p.reasoning.swap(reasoning_);
  p.content.swap(content_);
  p.finished = finished_;
  return p;
}

void Job::cancel() {
  if (!cancelled_.exchange(true)) owner_->wake();
}

bool Job::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

JobResult Job::result() const {
  std::lock_guard lock(mutex_);
  return result_;
}

void Job::deliver(std::string_view reasoning, std::string_view content) {
  if (reasoning.empty() && content.empty()) return;
  {
    std::lock_guard lock(mutex_);
    reasoning_.append(reasoning);
    content_.append(content);
  }
  cv_.notify_all();
}

void Job::finish(const JobResult& result) {
  {
    std::lock_guard lock(mutex_);
    result_ = result;
    finished_ = true;
  }
  cv_.notify_all();
}

struct Scheduler::Active {
  Active(std::shared_ptr<Job> j, int s, const Tokenizer& tokenizer)
      : job(std::move(j)),
        seq(s),
        feed(job->request().prompt),
        decoder(tokenizer, /*skip_special=*/true),
        stop(job->request().stop),
        parser(parser_options(job->request().starts_thinking)) {}

  std::shared_ptr<Job> job;
  int seq;
  std::vector<int32_t> feed;  // the prompt at the first step, then the last token
  int64_t max_tokens = 0;
  int64_t generated = 0;
  StreamingDecoder decoder;
  StopMatcher stop;
  ReasoningParser parser;
  Clock::time_point admitted, first_token, last_token;
  bool done = false;
};

Scheduler::Scheduler(const ServedModel& model, std::unique_ptr<Runtime> runtime)
    : model_(model),
      runtime_(std::move(runtime)),
      max_sequences_(runtime_->max_sequences()),
      max_context_(runtime_->max_context()) {
  for (int s = max_sequences_ - 1; s >= 0; --s) free_seqs_.push_back(s);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  stop();
}

std::shared_ptr<Job> Scheduler::submit(JobRequest request) {
  if (request.prompt.empty()) fail("the prompt is empty");
  if (int64_t(request.prompt.size()) >= max_context_)
    fail("the prompt takes ", request.prompt.size(), " tokens and the context holds ", max_context_,
         " with room for a reply");
  if (request.max_tokens < 1) fail("max_tokens must be at least 1");
  request.sampling.validate();
  const int64_t vocab = model_.model->config.vocab_size;
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab) fail("prompt token id ", id, " is outside the vocabulary of ", vocab);
  auto job = std::shared_ptr<Job>(new Job(this, std::move(request)));
  {
    std::lock_guard lock(mutex_);
    if (stopping_) fail("the server is shutting down");
    waiting_.push_back(job);
    stats_.waiting = int(waiting_.size());
  }
  cv_.notify_all();
  return job;
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::set_paused(bool paused) {
  {
    std::lock_guard lock(mutex_);
    paused_ = paused;
  }
  cv_.notify_all();
}

void Scheduler::step_while_paused(int steps) {
  {
    std::lock_guard lock(mutex_);
    paused_steps_ += steps;
  }
  cv_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Scheduler::wake() {
  {
    std::lock_guard lock(mutex_);
    cancel_requested_ = true;
  }
  cv_.notify_all();
}

void Scheduler::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    // active_ and free_seqs_ change only on this thread, so reading them here under the lock is safe.
    cv_.wait(lock, [this] {
      return stopping_ || cancel_requested_ ||
             ((!paused_ || paused_steps_ > 0) &&
              (!active_.empty() || (!waiting_.empty() && !free_seqs_.empty())));
    });
    if (stopping_) break;
    const bool run = !paused_ || paused_steps_ > 0;
    if (paused_ && run) --paused_steps_;
    lock.unlock();
    retire_cancelled();
    if (run) {
      admit();
      step();
    }
    publish_stats();
    lock.lock();
  }
  std::deque<std::shared_ptr<Job>> left;
  left.swap(waiting_);
  lock.unlock();
  for (auto& a : active_) retire(*a, FinishReason::Cancelled);
  active_.clear();
  for (auto& job : left) job->finish({FinishReason::Cancelled, {}, int64_t(job->request().prompt.size())});
  publish_stats();
}

void Scheduler::retire_cancelled() {
  std::vector<std::shared_ptr<Job>> dropped;
  {
    std::lock_guard lock(mutex_);
    cancel_requested_ = false;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if ((*it)->cancelled()) {
        dropped.push_back(std::move(*it));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    stats_.cancelled += int64_t(dropped.size());
  }
  for (auto& job : dropped) job->finish({FinishReason::Cancelled, {}, int64_t(job->request().prompt.size())});
  for (auto& a : active_)
    if (a->job->cancelled()) retire(*a, FinishReason::Cancelled);
  std::erase_if(active_, [](const auto& a) { return a->done; });
}

void Scheduler::admit() {
  std::vector<std::shared_ptr<Job>> admitted;
  {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty() && admitted.size() < free_seqs_.size()) {
      admitted.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
  }
  const auto now = Clock::now();
  for (auto& job : admitted) {
    const int seq = free_seqs_.back();
    free_seqs_.pop_back();
    auto a = std::make_unique<Active>(std::move(job), seq, *model_.tokenizer);
    a->max_tokens = std::min<int64_t>(a->job->request().max_tokens, max_context_ - int64_t(a->feed.size()));
    a->admitted = now;
    a->job->deliver({}, a->job->request().content_prefix);
    active_.push_back(std::move(a));
  }
}

void Scheduler::step() {
  if (active_.empty()) return;
  batch_.clear();
  batch_params_.clear();
  for (const auto& a : active_) {
    batch_.push_back({a->seq, a->feed, false});
    batch_params_.push_back(a->job->request().sampling);
  }
  batch_tokens_.resize(batch_.size());
  try {
    runtime_->forward_sample(batch_, batch_params_, batch_tokens_.data());
  } catch (const std::exception& e) {
    for (auto& a : active_) retire(*a, FinishReason::Error, e.what());
    active_.clear();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.steps;
    stats_.largest_batch = std::max(stats_.largest_batch, int(batch_.size()));
  }
  const auto now = Clock::now();
  for (size_t i = 0; i < active_.size(); ++i) {
    Active& a = *active_[i];
    const int32_t token = batch_tokens_[i];
    if (a.generated++ == 0) a.first_token = now;
    a.last_token = now;
    const JobRequest& r = a.job->request();
    if (!r.ignore_eos &&
        std::find(model_.stop_ids.begin(), model_.stop_ids.end(), token) != model_.stop_ids.end()) {
      retire(a, FinishReason::Stop);
      continue;
    }
    const std::string text = a.stop.push(a.decoder.push(token));
    if (r.split_reasoning) {
      const ReasoningParser::Delta d = a.parser.push(text);
      a.job->deliver(d.thinking, d.answer);
    } else {
      a.job->deliver({}, text);
    }
    if (a.stop.hit()) {
      retire(a, FinishReason::Stop);
    } else if (a.generated >= a.max_tokens) {
      retire(a, FinishReason::Length);
    } else {
      a.feed.assign(1, token);
    }
  }
  std::erase_if(active_, [](const auto& a) { return a->done; });
}

void Scheduler::retire(Active& a, FinishReason reason, const std::string& error) {
  if (reason == FinishReason::Stop || reason == FinishReason::Length) {
    std::string rest = a.stop.push(a.decoder.flush());
    if (a.stop.hit()) reason = FinishReason::Stop;
    rest += a.stop.finish();
    if (a.job->request().split_reasoning) {
      ReasoningParser::Delta d = a.parser.push(rest);
      const ReasoningParser::Delta end = a.parser.finish();
      a.job->deliver(d.thinking + end.thinking, d.answer + end.answer);
    } else {
      a.job->deliver({}, rest);
    }
  }
  JobResult r;
  r.reason = reason;
  r.error = error;
  r.prompt_tokens = int64_t(a.job->request().prompt.size());
  r.completion_tokens = a.generated;
  r.queued_ms = ms_between(a.job->submitted_, a.admitted);
  if (a.generated > 0) {
    r.prompt_ms = ms_between(a.admitted, a.first_token);
    r.predicted_ms = ms_between(a.first_token, a.last_token);
  }
  runtime_->truncate(a.seq, 0);
  free_seqs_.push_back(a.seq);
  a.done = true;
  {
    std::lock_guard lock(mutex_);
    if (reason == FinishReason::Cancelled) {
      ++stats_.cancelled;
    } else if (reason == FinishReason::Error) {
      ++stats_.failed;
    } else {
      ++stats_.completed;
    }
  }
  a.job->finish(r);
}

void Scheduler::publish_stats() {
  const int sequences = runtime_->kv_stats().sequences_active;
  std::lock_guard lock(mutex_);
  stats_.waiting = int(waiting_.size());
  stats_.active = int(active_.size());
  stats_.sequences_active = sequences;
}

}  // namespace r1::server
