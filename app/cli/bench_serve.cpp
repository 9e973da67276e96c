// r1wb bench serve: the local server under many concurrent streaming clients on loopback for a set time.
// Prints requests/s, completion tokens/s, first-token and whole-response latencies, errors, and the
// process's memory and open files sampled through the run (server and clients share the process).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "interrupt.h"
#include "server/load_client.h"
#include "server/server.h"

namespace r1::cli {
namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

}  // namespace

int bench_serve(const ArgList& argv) {
  const Args args(argv, {"model", "clients", "duration", "max-tokens", "parallel", "device", "context"},
                  {"json"});
  server::ServerOptions so;
  so.model_dir = args.require("model");
  so.port = 0;
  so.max_sequences = int(args.get_int("parallel", 16));
  so.context = args.get_int("context", 0);
  so.device = parse_device(args.get("device", "cpu"));
  server::LoadOptions lo;
  lo.clients = int(args.get_int("clients", 64));
  lo.seconds = args.get_double("duration", 300);
  lo.max_tokens = int(args.get_int("max-tokens", 64));
  if (lo.clients < 1 || lo.clients > 4096) fail("option --clients must be between 1 and 4096");
  if (lo.seconds <= 0) fail("option --duration must be positive (seconds)");
  if (lo.max_tokens < 1) fail("option --max-tokens must be at least 1");
  if (so.max_sequences < 1 || so.max_sequences > 1024) fail("option --parallel must be between 1 and 1024");
  so.max_connections = lo.clients + 8;
  lo.sample_every_s = std::clamp(lo.seconds / 20, 1.0, 15.0);

  server::Server server(so);
  server.start();
  lo.port = server.port();
  const InterruptGuard interrupt;
  lo.cancel = interrupt.flag();
  std::fprintf(stderr,
               "serving %s on port %d: %d clients for %.0f s, %d tokens each, %d parallel sequences\n",
               server.model().id.c_str(), lo.port, lo.clients, lo.seconds, lo.max_tokens, so.max_sequences);
  lo.on_sample = [](const server::LoadSample& s) {
    std::fprintf(stderr, "  %6.0f s  %7lld requests  %lld errors  %9lld tokens  rss %6.1f MiB  files %lld\n",
                 s.t, static_cast<long long>(s.requests), static_cast<long long>(s.errors),
                 static_cast<long long>(s.tokens), double(s.rss_bytes) / (1 << 20),
                 static_cast<long long>(s.open_files));
  };
  const server::LoadResult r = server::run_load(lo);
  server.stop();
  const int64_t files_after_stop = server::open_file_count();

  // Memory after the warm-up (the first tenth of the run) against the end shows whether it keeps growing.
  const auto& samples = r.samples;
  const server::LoadSample& warm = samples[std::min(samples.size() - 1, samples.size() / 10)];
  int64_t rss_max = 0;
  for (const auto& s : samples) rss_max = std::max(rss_max, s.rss_bytes);
  nlohmann::json out = {{"clients", lo.clients},
                        {"seconds", r.seconds},
                        {"requests", r.requests},
                        {"errors", r.errors},
                        {"error_examples", r.error_examples},
                        {"completion_tokens", r.completion_tokens},
                        {"requests_per_s", double(r.requests) / r.seconds},
                        {"tokens_per_s", double(r.completion_tokens) / r.seconds},
                        {"first_token_p50_s", percentile(r.first_token_s, 0.5)},
                        {"first_token_p95_s", percentile(r.first_token_s, 0.95)},
                        {"latency_p50_s", percentile(r.latency_s, 0.5)},
                        {"latency_p95_s", percentile(r.latency_s, 0.95)},
                        {"rss_after_warmup_mib", double(warm.rss_bytes) / (1 << 20)},
                        {"rss_end_mib", double(samples.back().rss_bytes) / (1 << 20)},
                        {"rss_max_mib", double(rss_max) / (1 << 20)},
                        {"open_files_during", samples.back().open_files},
                        {"open_files_after_stop", files_after_stop},
                        {"device", args.get("device", "cpu")}};
  if (args.has("json")) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%lld requests (%lld errors) in %.1f s: %.2f requests/s, %.1f tokens/s\n",
                static_cast<long long>(r.requests), static_cast<long long>(r.errors), r.seconds,
                out["requests_per_s"].get<double>(), out["tokens_per_s"].get<double>());
    std::printf("first token p50 %.3f s, p95 %.3f s; whole response p50 %.3f s, p95 %.3f s\n",
                out["first_token_p50_s"].get<double>(), out["first_token_p95_s"].get<double>(),
                out["latency_p50_s"].get<double>(), out["latency_p95_s"].get<double>());
    std::printf(
        "resident memory %.1f MiB after warm-up, %.1f MiB at the end (max %.1f); open files %lld after "
        "stop\n",
        out["rss_after_warmup_mib"].get<double>(), out["rss_end_mib"].get<double>(),
        out["rss_max_mib"].get<double>(), static_cast<long long>(files_after_stop));
    for (const auto& e : r.error_examples) std::printf("error: %s\n", e.c_str());
  }
  return r.errors == 0 ? 0 : 1;
}

}  // namespace r1::cli
