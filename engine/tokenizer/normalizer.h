#pragma once
// The tokenizer.json normalizers we support: NFC (through utf8proc), a Sequence of them, or none.
#include <string>
#include <string_view>

namespace r1 {

class Normalizer {
 public:
  Normalizer() = default;
  static Normalizer nfc();

  bool is_identity() const { return !nfc_; }
  // Normalizes valid UTF-8 text; returns false (and leaves `out` alone) when the text is already normal,
  // which a quick check decides for most text without running the full algorithm.
  bool apply(std::string_view text, std::string& out) const;

 private:
  bool nfc_ = false;
};

namespace unicode {
// NFC of valid UTF-8 text.
std::string nfc(std::string_view text);
// False when every character is NFC_Quick_Check=Yes and has combining class 0, so NFC cannot change the text.
bool may_change_under_nfc(std::string_view text);
}  // namespace unicode

}  // namespace r1
