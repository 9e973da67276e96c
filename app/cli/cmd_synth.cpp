#include <cstdio>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/grpo/traces.h"

namespace r1::cli {

int cmd_synth(const ArgList& argv) {
  const Args args(argv, {"task", "difficulty", "n", "seed", "out"}, {});
  const TaskConfig task = TaskConfig::preset(args.require("task"), args.get("difficulty", "default"));
  args.require("n");
  const int64_t n = args.get_int("n", 0);
  if (n < 1) fail("option --n: the number of examples must be positive, found ", n);
  const int64_t seed = args.get_int("seed", 0);
  if (seed < 0) fail("option --seed: must not be negative, found ", seed);
  const std::string out = args.require("out");

  int64_t skipped = 0;
  const std::vector<nlohmann::json> lines = synthesize_sft(task, n, uint64_t(seed), &skipped);
  std::string text;
  double completion_chars = 0;
  for (const nlohmann::json& line : lines) {
    text += line.dump() + "\n";
    completion_chars += double(line["completion"].get_ref<const std::string&>().size());
  }
  write_text_file_atomic(out, text);
  const nlohmann::json summary = {
      {"written", lines.size()},
      {"skipped", skipped},
      {"mean_completion_chars", lines.empty() ? 0.0 : completion_chars / double(lines.size())}};
  std::printf("%s\n", summary.dump().c_str());
  return 0;
}

}  // namespace r1::cli
