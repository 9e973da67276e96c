#include "engine/tokenizer/pre_tokenizer.h"

namespace r1 {

namespace {

// Isolated behaviour: every match is a piece and so is every stretch between matches.
void split_isolated(const Regex& re, std::string_view text, std::vector<std::string_view>& out,
                    std::vector<std::pair<size_t, size_t>>& matches) {
  matches.clear();
  re.find_all(text, matches);
  size_t prev = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > prev) out.push_back(text.substr(prev, begin - prev));
    out.push_back(text.substr(begin, end - begin));
    prev = end;
  }
  if (prev < text.size()) out.push_back(text.substr(prev));
}

}  // namespace

void PreTokenizer::set_byte_level(bool add_prefix_space, bool use_regex) {
  add_prefix_space_ = add_prefix_space;
  byte_level_regex_ = use_regex ? std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel pattern") : nullptr;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces,
                         std::deque<std::string>& storage) const {
  if (text.empty()) return;
  std::vector<std::pair<size_t, size_t>> matches;
  std::vector<std::string_view> current{text}, next;
  for (const auto& re : splits_) {
    next.clear();
    for (const std::string_view piece : current) split_isolated(*re, piece, next, matches);
    current.swap(next);
  }
  if (!add_prefix_space_ && !byte_level_regex_) {
    pieces.insert(pieces.end(), current.begin(), current.end());
    return;
  }
  for (std::string_view piece : current) {
    if (add_prefix_space_ && piece.front() != ' ') piece = storage.emplace_back(" " + std::string(piece));
    if (byte_level_regex_)
      split_isolated(*byte_level_regex_, piece, pieces, matches);
    else
      pieces.push_back(piece);
  }
}

}  // namespace r1
