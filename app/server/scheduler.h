#pragma once
// Continuous batching for the server. One thread owns the runtime and loops: retire cancelled requests,
// admit waiting requests into free sequence slots, then one batched forward_sample over every active
// sequence (new ones feed their whole prompt, the others their last token), hand each new token's text to
// its request, and free the slots of finished ones (truncate(seq, 0)). Request threads submit jobs and read
// their text as it comes; a job whose client went away is cancelled and retired before the next step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/runtime/runtime.h"
#include "served_model.h"

namespace r1::server {

class Scheduler;

// What a request asks the scheduler for.
struct JobRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 16;  // clamped to the room the context leaves
  std::vector<std::string> stop;
  bool ignore_eos = false;       // keep going past the model's stop tokens (benchmarks)
  bool split_reasoning = false;  // <think>…</think> goes to reasoning, the rest to content
  bool starts_thinking = false;  // the prompt opened <think>
  std::string content_prefix;    // put in front of the generated content
};

enum class FinishReason { Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // stop, length, cancelled, error

struct JobResult {
  FinishReason reason = FinishReason::Stop;
  std::string error;  // FinishReason::Error
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double queued_ms = 0;     // submitted -> admitted
  double prompt_ms = 0;     // admitted -> first token (the prefill)
  double predicted_ms = 0;  // first token -> last token

  double predicted_per_second() const;
  double prompt_per_second() const;
};

class Job {
 public:
  // Text that arrived since the last take, and whether the job has ended.
  struct Progress {
    std::string reasoning;
    std::string content;
    bool finished = false;
  };

  // Waits until text arrives or the job ends, at most `timeout`.
  Progress take(std::chrono::milliseconds timeout);
  // The client is gone or no longer wants the rest; the scheduler retires the job before its next step.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  bool finished() const;
  // Valid once take() reported finished.
  JobResult result() const;
  const JobRequest& request() const { return request_; }

 private:
  friend class Scheduler;
  Job(Scheduler* owner, JobRequest request);
  void deliver(std::string_view reasoning, std::string_view content);
  void finish(const JobResult& result);

  Scheduler* owner_;
  JobRequest request_;
  std::chrono::steady_clock::time_point submitted_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string reasoning_, content_;
  bool finished_ = false;
  JobResult result_;
};

struct SchedulerStats {
  int waiting = 0;           // submitted, not yet admitted
  int active = 0;            // holding a sequence slot
  int sequences_active = 0;  // sequences the runtime's KV cache holds tokens for
  int largest_batch = 0;     // the most sequences one forward step has carried
  int64_t steps = 0;
  int64_t completed = 0;  // jobs ended by stop or length
  int64_t cancelled = 0;
  int64_t failed = 0;
};

class Scheduler {
 public:
  // `model` must outlive the scheduler. Starts the scheduler thread.
  Scheduler(const ServedModel& model, std::unique_ptr<Runtime> runtime);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job. Throws r1::Error when the prompt is empty or does not fit the context, or after stop().
  std::shared_ptr<Job> submit(JobRequest request);
  // Ends every job (as cancelled) and joins the thread.
  void stop();
  // While paused no job is admitted and no step runs; cancelled jobs are still retired. Lets a caller
  // gather several requests into one step, or hold a generation still.
  void set_paused(bool paused);
  // While paused: run `steps` more steps (admitting waiting jobs as usual), then hold again.
  void step_while_paused(int steps);

  SchedulerStats stats() const;
  int64_t max_context() const { return max_context_; }
  int max_sequences() const { return max_sequences_; }

 private:
  friend class Job;
  struct Active;

  void wake();
  void loop();
  void retire_cancelled();
  void admit();
  void step();
  // Flushes the job's pending text, reports the result and frees its sequence.
  void retire(Active& a, FinishReason reason, const std::string& error = {});
  void publish_stats();

  const ServedModel& model_;
  std::unique_ptr<Runtime> runtime_;
  const int max_sequences_;
  const int64_t max_context_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> waiting_;
  bool stopping_ = false;
  bool paused_ = false;
  int paused_steps_ = 0;  // steps still allowed while paused
  bool cancel_requested_ = false;
  SchedulerStats stats_;

  // Owned by the scheduler thread.
  std::vector<std::unique_ptr<Active>> active_;
  std::vector<int> free_seqs_;
  std::vector<SequenceInput> batch_;
  std::vector<SamplingParams> batch_params_;
  std::vector<int32_t> batch_tokens_;

  std::thread thread_;
};

}  // namespace r1::server
