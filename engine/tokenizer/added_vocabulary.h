#pragma once
// Added tokens (special or not) are found in the text before BPE, as the reference library does: those with
// normalized=false in the raw text, those with normalized=true in the normalized text; leftmost match first,
// longest at that position; lstrip/rstrip take the whitespace beside a match into it, single_word rejects a
// match inside a word.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

class AddedTokenMatcher {
 public:
  struct Piece {
    size_t begin, end;
    int32_t id;  // -1: plain text for the next stage
  };

  // `pattern` is the text to find for `token`: its content, normalized when the token is.
  void add(const AddedToken& token, std::string_view pattern);
  bool empty() const { return tokens_.empty(); }

  // Cuts `text` into plain stretches and matched tokens, in order. Nothing is dropped except whitespace
  // that lstrip/rstrip tokens take in.
  void split(std::string_view text, std::vector<Piece>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                       // index into tokens_
  };
  // The longest token starting at text[pos]: (index, length), or (-1, 0).
  std::pair<int32_t, size_t> longest_at(std::string_view text, size_t pos) const;

  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_byte_{};
  std::vector<AddedToken> tokens_;
};

}  // namespace r1
