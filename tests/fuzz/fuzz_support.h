#pragma once
// What the fuzz targets share. Each target defines LLVMFuzzerTestOneInput; it is linked either with libFuzzer
// (clang, R1WB_FUZZ) or with replay_main.cpp, which feeds it the committed seeds and crash regressions.
// A target catches the r1::Error a bad input is meant to raise; anything else that escapes (another
// exception, a sanitizer report, a failed FUZZ_CHECK) is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace r1::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The parts of `text` between `separator` bytes (a text without one is one part).
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The source tree, for the committed tokenizer and model folder some targets load once.
inline std::filesystem::path source_dir() {
  return R1WB_SOURCE_DIR;
}

}  // namespace r1::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
