#pragma once
// The Split pre-tokenizer's pattern, compiled with PCRE2 (UTF + UCP, JIT when available). tokenizer.json
// patterns are written for Oniguruma; the one difference that matters for real patterns, Oniguruma's `\s`
// being exactly Unicode White_Space while PCRE2's also takes U+180E, is removed by spelling `\s` out (see
// translate_pattern).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace r1 {

class Regex {
 public:
  // `literal`: the pattern is a plain string (tokenizer.json's {"String": ...}). Errors name `origin`.
  Regex(std::string_view pattern, bool literal, const std::string& origin);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The first non-empty match in `text` (valid UTF-8) at or after `pos`, as [begin, end) byte offsets;
  // nullopt when there is none. A match that fails for resource reasons is reported as the whole rest of the
  // text.
  std::optional<std::pair<size_t, size_t>> find(std::string_view text, size_t pos) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
  bool jit_ = false;
};

// Oniguruma's `\s`/`\S` written out as explicit classes; everything else is left as it is.
std::string translate_pattern(std::string_view oniguruma);

}  // namespace r1
