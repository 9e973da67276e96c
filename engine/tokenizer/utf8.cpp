#include "engine/tokenizer/utf8.h"

namespace r1::utf8 {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

}  // namespace

Scan scan(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {Step::Valid, 1};
  size_t continuation = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the first continuation byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation = 2;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Step::Invalid, 1};
  }
  for (size_t k = 1; k <= continuation; ++k) {
    if (pos + k >= text.size()) return {Step::Truncated, k};
    const auto c = static_cast<unsigned char>(text[pos + k]);
    if (c < lo || c > hi) return {Step::Invalid, k};
    lo = 0x80;
    hi = 0xBF;
  }
  return {Step::Valid, continuation + 1};
}

uint32_t decode(const char* p, size_t length) {
  const auto b = [p](size_t i) { return uint32_t(static_cast<unsigned char>(p[i])); };
  switch (length) {
    case 1:
      return b(0);
    case 2:
      return (b(0) & 0x1F) << 6 | (b(1) & 0x3F);
    case 3:
      return (b(0) & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
    default:
      return (b(0) & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
  }
}

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool is_valid(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Scan s = scan(text, i);
    if (s.step != Step::Valid) return false;
    i += s.length;
  }
  return true;
}

std::string to_valid(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t kept = append_complete(out, text.substr(i));
    i += kept;
    if (i < text.size()) {  // a cut-off character at the very end
      out += kReplacement;
      break;
    }
  }
  return out;
}

size_t append_complete(std::string& out, std::string_view pending) {
  size_t i = 0, run = 0;  // [run, i) is valid text not yet copied
  while (i < pending.size()) {
    if (static_cast<unsigned char>(pending[i]) < 0x80) {
      ++i;
      continue;
    }
    const Scan s = scan(pending, i);
    if (s.step == Step::Valid) {
      i += s.length;
      continue;
    }
    out.append(pending.substr(run, i - run));
    if (s.step == Step::Truncated) return i;
    out += kReplacement;
    i += s.length;
    run = i;
  }
  out.append(pending.substr(run, i - run));
  return i;
}

}  // namespace r1::utf8
