#pragma once
// A load generator for the local server on loopback: clients that each hold one keep-alive connection and
// stream chat completions one after another, checking that every response is whole and well-formed (status
// 200, chunked server-sent events of valid JSON chunks, a finish reason, usage, then [DONE]). Used by
// `r1wb bench serve`; it samples the process's memory and open files while it runs.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace r1::server {

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  int clients = 64;
  double seconds = 300;
  int max_tokens = 64;
  double sample_every_s = 5;  // memory and file samples
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const struct LoadSample&)> on_sample;
};

struct LoadSample {
  double t = 0;
  int64_t rss_bytes = 0;  // this process's resident memory
  int64_t open_files = 0;
  int64_t requests = 0, errors = 0, tokens = 0;
};

struct LoadResult {
  int64_t requests = 0;           // responses complete and well-formed
  int64_t errors = 0;             // anything else: refused, cut off, malformed
  int64_t completion_tokens = 0;  // from each response's usage
  double seconds = 0;
  std::vector<double> first_token_s, latency_s;  // per complete response
  std::vector<std::string> error_examples;       // the first few, with what was wrong
  std::vector<LoadSample> samples;
};

LoadResult run_load(const LoadOptions& options);

// Resident memory and open file descriptors of this process (Linux /proc); 0 when unreadable.
int64_t resident_bytes();
int64_t open_file_count();

}  // namespace r1::server
