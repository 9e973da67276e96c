#include "engine/tokenizer/pre_tokenizer.h"

namespace r1 {

namespace {

// Isolated behaviour: every match is a piece and so is every stretch between matches.
template <typename Emit>
void split_isolated(const Regex& re, std::string_view text, const Emit& emit) {
  size_t prev = 0;
  while (const auto match = re.find(text, prev)) {
    const auto [begin, end] = *match;
    if (begin > prev) emit(text.substr(prev, begin - prev));
    emit(text.substr(begin, end - begin));
    prev = end;
  }
  if (prev < text.size()) emit(text.substr(prev));
}

}  // namespace

void PreTokenizer::set_byte_level(bool add_prefix_space, bool use_regex) {
  add_prefix_space_ = add_prefix_space;
  byte_level_regex_ = use_regex ? std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel pattern") : nullptr;
}

void PreTokenizer::split(std::string_view text, const Emit& emit) const {
  if (!text.empty()) split_from(0, text, emit);
}

void PreTokenizer::split_from(size_t step, std::string_view text, const Emit& emit) const {
  if (step == splits_.size()) return byte_level(text, emit);
  split_isolated(*splits_[step], text, [&](std::string_view piece) { split_from(step + 1, piece, emit); });
}

void PreTokenizer::byte_level(std::string_view piece, const Emit& emit) const {
  std::string prefixed;
  if (add_prefix_space_ && piece.front() != ' ') {
    prefixed = " " + std::string(piece);
    piece = prefixed;
  }
  if (byte_level_regex_)
    split_isolated(*byte_level_regex_, piece, emit);
  else
    emit(piece);
}

}  // namespace r1
