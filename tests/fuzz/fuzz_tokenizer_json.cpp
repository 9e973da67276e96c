// Fuzz target: tokenizer.json text. An accepted file gives a tokenizer that encodes a few fixed texts
// (added tokens, invalid UTF-8, long runs) to ids inside its vocabulary and decodes them again.
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/tokenizer/tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const r1::Tokenizer> tokenizer;
  try {
    tokenizer = r1::Tokenizer::from_json(r1::fuzz::as_text(data, size), "tokenizer.json");
  } catch (const r1::Error&) {
    return 0;
  }
  static const std::vector<std::string> texts = {
      "Hello, world! It's 2024.\n\n  indented\tcode();",
      "<|im_start|>user\n<think>\xE4\xBD\xA0\xE5\xA5\xBD</think><|im_end|>",
      "caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF\xFE bad \xE2\x82",
      std::string(300, 'a') + std::string(40, ' ') + "1234567890",
  };
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    for (const int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tokenizer->vocab_size());
    (void)tokenizer->decode(ids);
    (void)tokenizer->decode(ids, true);
  }
  for (int32_t id = -1; id <= 8; ++id) {
    (void)tokenizer->token_bytes(id);
    (void)tokenizer->is_special(id);
  }
  (void)tokenizer->token_bytes(int32_t(tokenizer->vocab_size()));
  return 0;
}
