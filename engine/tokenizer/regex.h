#pragma once
// The Split pre-tokenizer's pattern, compiled with PCRE2 (UTF + UCP, JIT when available). tokenizer.json patterns
// are written for Oniguruma; the one difference that matters for real patterns, Oniguruma's `\s` being exactly
// Unicode White_Space while PCRE2's also takes U+180E, is removed by spelling `\s` out (see translate_pattern).
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {

class Regex {
 public:
  // `literal`: the pattern is a plain string (tokenizer.json's {"String": ...}). Errors name `origin`.
  Regex(std::string_view pattern, bool literal, const std::string& origin);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of the non-empty, non-overlapping matches in `text` (valid UTF-8),
  // left to right. A match that fails for resource reasons ends the search; the rest of the text is one range.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8
  bool jit_ = false;
};

// Oniguruma's `\s`/`\S` written out as explicit classes; everything else is left as it is.
std::string translate_pattern(std::string_view oniguruma);

}  // namespace r1
