#pragma once
// UTF-8 scanning by the Unicode rules (the same ones Rust's String::from_utf8_lossy follows): a bad sequence
// is replaced by one U+FFFD per maximal subpart, so decoded text matches the reference library byte for byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace r1::utf8 {

enum class Step : uint8_t { Valid, Invalid, Truncated };

struct Scan {
  Step step;
  size_t length;  // bytes of the character (Valid), of the maximal bad subpart (Invalid), or left (Truncated)
};

// What starts at text[pos]: a whole character, bytes that can never become one, or the valid start of a
// character cut off by the end of `text`.
Scan scan(std::string_view text, size_t pos);

// The code point of a valid sequence of `length` bytes at `p`.
uint32_t decode(const char* p, size_t length);
void append(std::string& out, uint32_t code_point);

bool is_valid(std::string_view text);
// `text` with every bad sequence replaced by U+FFFD.
std::string to_valid(std::string_view text);
// Appends the longest prefix of `pending` that can no longer change (complete characters, and U+FFFD for
// bytes that can never become one) to `out` and returns its length; a cut-off character at the end is kept
// back.
size_t append_complete(std::string& out, std::string_view pending);

}  // namespace r1::utf8
