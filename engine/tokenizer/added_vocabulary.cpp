#include "engine/tokenizer/added_vocabulary.h"

#include <utf8proc.h>

#include <algorithm>

#include "engine/tokenizer/utf8.h"

namespace r1 {

namespace {

// Rust's char::is_whitespace: the Unicode White_Space property.
bool is_white_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// A character of a word in the sense of regex's \w: letters, marks, decimal digits, connector punctuation.
bool is_word_char(uint32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D) return true;  // joiners
  switch (utf8proc_category(utf8proc_int32_t(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// The code point that ends just before `end` (text is valid UTF-8).
uint32_t last_char(std::string_view text, size_t end, size_t* begin) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  *begin = b;
  return utf8::decode(text.data() + b, end - b);
}

uint32_t char_at(std::string_view text, size_t pos, size_t* length) {
  const utf8::Scan s = utf8::scan(text, pos);
  *length = s.step == utf8::Step::Valid ? s.length : 1;
  return s.step == utf8::Step::Valid ? utf8::decode(text.data() + pos, s.length) : 0xFFFD;
}

// Start of the whitespace run that ends at `end`.
size_t whitespace_start_before(std::string_view text, size_t end) {
  size_t begin = end;
  while (begin > 0) {
    size_t b;
    if (!is_white_space(last_char(text, begin, &b))) break;
    begin = b;
  }
  return begin;
}

// End of the whitespace run that starts at `pos`.
size_t whitespace_end_after(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    size_t n;
    if (!is_white_space(char_at(text, pos, &n))) break;
    pos += n;
  }
  return pos;
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& token, std::string_view pattern) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (const char ch : pattern) {
    const auto byte = static_cast<unsigned char>(ch);
    auto& children = nodes_[size_t(node)].children;
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& child, unsigned char b) { return child.first < b; });
    if (it == children.end() || it->first != byte) {
      const auto child = int32_t(nodes_.size());
      it = children.insert(it, {byte, child});
      nodes_.emplace_back();
      node = child;
    } else {
      node = it->second;
    }
  }
  first_byte_[static_cast<unsigned char>(pattern.front())] = true;
  nodes_[size_t(node)].token = int32_t(tokens_.size());
  tokens_.push_back(token);
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes_[size_t(node)].children;
    const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                     [](const auto& child, unsigned char b) { return child.first < b; });
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[size_t(node)].token >= 0) best = {nodes_[size_t(node)].token, i + 1 - pos};
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Piece>& out) const {
  size_t emitted = 0;  // text before this is in `out`
  size_t pos = 0;      // where the search for the next match starts
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [index, length] = longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[size_t(index)];
    size_t start = pos, stop = pos + length;
    pos = stop;  // a rejected match still consumes its text, as in the reference's non-overlapping search
    if (token.single_word) {
      size_t b, n;
      const bool word_before = start > 0 && is_word_char(last_char(text, start, &b));
      const bool word_after = stop < text.size() && is_word_char(char_at(text, stop, &n));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) start = std::max(whitespace_start_before(text, start), emitted);
    if (token.rstrip) stop = whitespace_end_after(text, stop);
    start = std::max(start, emitted);
    if (emitted < start) out.push_back({emitted, start, -1});
    out.push_back({start, stop, token.id});
    emitted = stop;
    pos = std::max(pos, stop);
  }
  if (emitted < text.size()) out.push_back({emitted, text.size(), -1});
}

}  // namespace r1
