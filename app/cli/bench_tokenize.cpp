// r1wb bench tokenize: encoding throughput in MB/s (10^6 bytes of UTF-8 input per second) on a text file or
// on a deterministic mixed text (prose, code, numbers, CJK, Cyrillic, Arabic, emoji, whitespace). Prints one
// JSON object. tests/fixtures/bench_tokenizers.js measures the reference library on the same file
// (--write-text).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A few MB of varied text from a fixed seed: the same bytes on every machine.
std::string mixed_text(size_t bytes) {
  static const char* const kPieces[] = {
      "The quick brown fox jumps over the lazy dog. ",
      "It's what they'd've done, isn't it? ",
      "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n",
      "def f(x):\n    return [y ** 2 for y in range(x) if y % 3]\n",
      "    ",
      "\t",
      "\n\n",
      "\r\n",
      "3.14159 ",
      "1234567890 ",
      "2024-05-17T12:00:00Z ",
      "我们正在测试分词器的速度。",
      "日本語のテキストとカタカナ。",
      "Съешь же ещё этих мягких французских булок. ",
      "مرحبا بالعالم ",
      "Γειά σου Κόσμε ",
      "😀🎉👨‍👩‍👧‍👦 ",
      "naïve café résumé ",
      "{\"key\": [1, 2, 3], \"v\": null}\n",
      "<|im_start|>user\n",
  };
  const size_t count = sizeof(kPieces) / sizeof(kPieces[0]);
  std::string text;
  text.reserve(bytes + 256);
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    text += kPieces[(state >> 33) % count];
  }
  return text;
}

std::filesystem::path default_tokenizer() {
  for (const char* candidate : {"tests/data/qwen3", "../tests/data/qwen3", "../../tests/data/qwen3"})
    if (std::filesystem::exists(std::filesystem::path(candidate) / "tokenizer.json")) return candidate;
  fail(
      "give --tokenizer FILE|DIR (tests/data/qwen3 was not found from here; tools/fetch_test_data.sh fetches "
      "it)");
}

}  // namespace

int bench_tokenize(const ArgList& argv) {
  const Args args(argv, {"tokenizer", "text-file", "megabytes", "repeats", "write-text"}, {});
  const std::filesystem::path path =
      args.has("tokenizer") ? std::filesystem::path(args.get("tokenizer")) : default_tokenizer();
  const int64_t repeats = args.get_int("repeats", 5);
  if (repeats < 1) fail("option --repeats must be at least 1");
  std::string text;
  if (args.has("text-file")) {
    if (args.has("megabytes")) fail("option --megabytes cannot be combined with --text-file");
    text = read_text_file(args.get("text-file"));
  } else {
    const int64_t mb = args.get_int("megabytes", 4);
    if (mb < 1 || mb > 1024) fail("option --megabytes must be between 1 and 1024");
    text = mixed_text(size_t(mb) * 1000000);
  }
  if (args.has("write-text")) write_text_file_atomic(args.get("write-text"), text);

  auto t0 = Clock::now();
  const auto tokenizer = Tokenizer::load(path);
  const double load_seconds = since(t0);
  double cold = 0, best = 0;
  size_t tokens = 0;
  for (int64_t r = 0; r < repeats; ++r) {
    t0 = Clock::now();
    tokens = tokenizer->encode(text).size();
    const double s = since(t0);
    if (r == 0) cold = s;
    if (r == 0 || s < best) best = s;
  }
  const double mb = double(text.size()) / 1e6;
  const nlohmann::json out = {
      {"bench", "tokenize"},
      {"tokenizer", path.string()},
      {"text", args.has("text-file") ? args.get("text-file") : "mixed (built in)"},
      {"bytes", text.size()},
      {"tokens", tokens},
      {"load_seconds", load_seconds},
      {"repeats", repeats},
      {"cold_mb_per_s", mb / cold},
      {"mb_per_s", mb / best},
      {"tokens_per_s", double(tokens) / best},
  };
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace r1::cli
