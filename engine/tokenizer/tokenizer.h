#pragma once
// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `path` is a tokenizer.json file or a folder holding one. Errors name the file and the field.
  static std::shared_ptr<const Tokenizer> load(const std::filesystem::path& path);
  static std::shared_ptr<const Tokenizer> from_json(std::string_view json_text, const std::string& origin);

  // Added tokens (special or not) written in the text are recognised as single ids. The ids equal the Hugging
  // Face `tokenizers` library's with add_special_tokens=false (no BOS is added). Never throws: bytes that are
  // not valid UTF-8 are encoded one byte token each.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids outside the vocabulary are skipped; bytes that do not form UTF-8 become U+FFFD, as in the reference.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The raw bytes one token stands for (may be part of a UTF-8 character); empty for an id outside the
  // vocabulary.
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual int64_t vocab_size() const = 0;  // highest id + 1, added tokens included
};

// Turns a stream of ids into text without ever emitting a broken UTF-8 sequence: bytes of a character split
// over several tokens are held back until the character is complete.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int32_t id);
  std::string flush();  // whatever is held back, invalid bytes replaced by U+FFFD

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace r1
