#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "interrupt.h"
#include "server/server.h"

namespace r1::cli {
namespace {

// How often the command checks for Ctrl-C / SIGTERM while the server threads work.
constexpr auto kSignalPoll = std::chrono::milliseconds(100);

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

int cmd_serve(const ArgList& argv) {
  const Args args(
      argv, {"model", "host", "port", "api-key", "reasoning-format", "parallel", "context", "device"}, {});
  server::ServerOptions o;
  o.model_dir = args.require("model");
  o.host = args.get("host", "127.0.0.1");
  o.port = int(args.get_int("port", 8080));
  if (o.port < 0 || o.port > 65535) fail("option --port must be between 0 and 65535 (0: any free port)");
  o.api_key = args.get("api-key");
  if (o.api_key.empty())
    if (const char* env = std::getenv("R1WB_API_KEY")) o.api_key = env;
  o.reasoning = server::parse_reasoning_format(args.get("reasoning-format", "deepseek"));
  o.max_sequences = int(args.get_int("parallel", 16));
  if (o.max_sequences < 1 || o.max_sequences > 1024) fail("option --parallel must be between 1 and 1024");
  o.context = args.get_int("context", 0);
  if (o.context < 0) fail("option --context must be positive (0: the model's, at most 4096)");
  o.device = parse_device(args.get("device", "cpu"));
  if (!is_loopback(o.host) && o.api_key.empty())
    std::fprintf(stderr,
                 "r1wb: warning: serving on %s without --api-key: anyone who can reach it may use it\n",
                 o.host.c_str());

  server::Server server(o);
  const InterruptGuard interrupt;
  server.start();
  const bool v6 = o.host.find(':') != std::string::npos;
  std::printf("model %s (%d parallel sequences, context %lld tokens)\n", server.model().id.c_str(),
              server.scheduler().max_sequences(), static_cast<long long>(server.scheduler().max_context()));
  std::printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", o.host.c_str(), v6 ? "]" : "", server.port());
  std::fflush(stdout);
  while (!interrupt.flag()->load()) std::this_thread::sleep_for(kSignalPoll);
  std::fprintf(stderr, "r1wb: stopping the server\n");
  server.stop();
  return 0;
}

}  // namespace r1::cli
