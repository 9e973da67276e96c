#include "engine/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/core/error.h"
#include "engine/tokenizer/utf8.h"

namespace r1 {

namespace unicode {

namespace {

// One bit per code point: set where NFC may change the text around that character (it has a nonzero combining
// class, composes with the character before it, or has a canonical decomposition NFC does not undo).
class UnstableSet {
 public:
  UnstableSet() : bits_((0x110000 + 63) / 64, 0) {
    for (uint32_t cp = 0x80; cp < 0x110000; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      if (unstable(cp)) bits_[cp >> 6] |= uint64_t(1) << (cp & 63);
    }
  }
  bool contains(uint32_t cp) const { return (bits_[cp >> 6] >> (cp & 63)) & 1; }

 private:
  static bool unstable(uint32_t cp) {
    const utf8proc_property_t* p = utf8proc_get_property(utf8proc_int32_t(cp));
    if (p->combining_class != 0) return true;
    if (p->comb_index != UINT16_MAX && (p->comb_index & 0x8000)) return true;  // second of a composition pair
    if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return true;  // Hangul V and T jamo
    if (p->decomp_seqindex != UINT16_MAX &&
        p->decomp_type == 0) {  // canonical decomposition: stable if NFC keeps it
      std::string one;
      utf8::append(one, cp);
      return nfc(one) != one;
    }
    return false;
  }

  std::vector<uint64_t> bits_;
};

const UnstableSet& unstable_set() {
  static const UnstableSet set;
  return set;
}

}  // namespace

std::string nfc(std::string_view text) {
  utf8proc_uint8_t* raw = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), utf8proc_ssize_t(text.size()),
                   &raw, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(raw, &std::free);
  if (n < 0) fail("NFC normalization failed: ", utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(raw), size_t(n));
}

bool may_change_under_nfc(std::string_view text) {
  const UnstableSet* set = nullptr;
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const utf8::Scan s = utf8::scan(text, i);
    if (s.step != utf8::Step::Valid) return true;
    if (!set) set = &unstable_set();
    if (set->contains(utf8::decode(text.data() + i, s.length))) return true;
    i += s.length;
  }
  return false;
}

}  // namespace unicode

Normalizer Normalizer::nfc() {
  Normalizer n;
  n.nfc_ = true;
  return n;
}

bool Normalizer::apply(std::string_view text, std::string& out) const {
  if (!nfc_ || !unicode::may_change_under_nfc(text)) return false;
  out = unicode::nfc(text);
  return true;
}

}  // namespace r1
