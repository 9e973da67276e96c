#pragma once
// Splits normalized text into pre-tokens: a Sequence of Split(pattern, Isolated) steps, then ByteLevel
// (add_prefix_space, and GPT-2's own pattern when use_regex is set). Each pre-token is encoded by BPE on its own.
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/regex.h"

namespace r1 {

class PreTokenizer {
 public:
  // The pattern GPT-2 (and ByteLevel with use_regex) splits with.
  static constexpr std::string_view kGpt2Pattern =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

  void add_split(std::unique_ptr<Regex> pattern) { splits_.push_back(std::move(pattern)); }
  void set_byte_level(bool add_prefix_space, bool use_regex);

  // Appends the pre-tokens of `text` to `pieces`; pieces that are not slices of `text` (a prefix space was
  // added) live in `storage`, which must outlive them.
  void split(std::string_view text, std::vector<std::string_view>& pieces, std::deque<std::string>& storage) const;

 private:
  std::vector<std::unique_ptr<Regex>> splits_;
  bool add_prefix_space_ = false;
  std::unique_ptr<Regex> byte_level_regex_;
};

}  // namespace r1
