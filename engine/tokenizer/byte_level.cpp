#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/utf8.h"

namespace r1::byte_level {

namespace {

struct Tables {
  std::array<uint32_t, 256> to_code_point{};
  std::array<int16_t, 512> to_byte{};  // every mapped code point is below 0x144

  Tables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_code_point[b] = printable ? uint32_t(b) : next++;
      to_byte[to_code_point[b]] = int16_t(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint32_t code_point_of(unsigned char byte) {
  return tables().to_code_point[byte];
}

std::optional<unsigned char> byte_of(uint32_t code_point) {
  if (code_point >= tables().to_byte.size() || tables().to_byte[code_point] < 0) return std::nullopt;
  return static_cast<unsigned char>(tables().to_byte[code_point]);
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) utf8::append(out, code_point_of(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> decode(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const utf8::Scan s = utf8::scan(token, i);
    if (s.step != utf8::Step::Valid) return std::nullopt;
    const auto byte = byte_of(utf8::decode(token.data() + i, s.length));
    if (!byte) return std::nullopt;
    out += char(*byte);
    i += s.length;
  }
  return out;
}

}  // namespace r1::byte_level
