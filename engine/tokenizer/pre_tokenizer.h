#pragma once
// Splits normalized text into pre-tokens: a Sequence of Split(pattern, Isolated) steps, then ByteLevel
// (add_prefix_space, and GPT-2's own pattern when use_regex is set). Each pre-token is encoded by BPE on its
// own. Pieces are handed out as they are found, so a long text needs no list of all its pieces.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/regex.h"

namespace r1 {

class PreTokenizer {
 public:
  // The pattern GPT-2 (and ByteLevel with use_regex) splits with.
  static constexpr std::string_view kGpt2Pattern =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

  using Emit = std::function<void(std::string_view piece)>;

  void add_split(std::unique_ptr<Regex> pattern) { splits_.push_back(std::move(pattern)); }
  void set_byte_level(bool add_prefix_space, bool use_regex);

  // Calls `emit` with each pre-token of `text`, in order.
  void split(std::string_view text, const Emit& emit) const;

 private:
  void split_from(size_t step, std::string_view text, const Emit& emit) const;
  void byte_level(std::string_view piece, const Emit& emit) const;

  std::vector<std::unique_ptr<Regex>> splits_;
  bool add_prefix_space_ = false;
  std::unique_ptr<Regex> byte_level_regex_;
};

}  // namespace r1
