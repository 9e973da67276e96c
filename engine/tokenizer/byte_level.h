#pragma once
// GPT-2's byte-level alphabet: every byte is written as one printable code point (printable ASCII and most of
// Latin-1 stand for themselves; the others are moved to U+0100 and up), so a vocabulary of strings covers all
// bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace r1::byte_level {

uint32_t code_point_of(unsigned char byte);
// The byte a code point stands for, if it is one of the 256.
std::optional<unsigned char> byte_of(uint32_t code_point);

// `bytes` written in the byte-level alphabet (UTF-8).
std::string encode(std::string_view bytes);
// The bytes a vocabulary string stands for; nullopt when it holds a character outside the alphabet
// (the caller then keeps the string's own UTF-8, as the ByteLevel decoder does).
std::optional<std::string> decode(std::string_view token);

}  // namespace r1::byte_level
