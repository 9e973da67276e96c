// Fuzz target: tokenizer encode on arbitrary bytes. The first byte picks one of the committed tokenizers
// (r1-tiny, the Qwen-style fixture) or a variant of r1-tiny built here that turns on what those lack (NFC,
// ByteLevel's own regex and prefix space, added tokens that strip or need whole words); the rest is the text.
// encode never throws and gives ids inside the vocabulary; for the tokenizers that keep every byte, decoding
// gives the text back with bad UTF-8 replaced; streaming decode agrees with decode and never emits broken
// UTF-8.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/files.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "fuzz_support.h"

namespace {

struct Candidate {
  std::shared_ptr<const r1::Tokenizer> tokenizer;
  bool lossless = false;  // no normalizer and no stripping added tokens: decode(encode(x)) == to_valid(x)
};

std::vector<Candidate> load_candidates() {
  const auto root = r1::fuzz::source_dir();
  const auto tiny = root / "resources" / "models" / "r1-tiny" / "tokenizer.json";
  std::vector<Candidate> out;
  out.push_back({r1::Tokenizer::load(tiny), true});
  out.push_back({r1::Tokenizer::load(root / "tests" / "fixtures" / "models" / "tokenizer.json"), true});
  nlohmann::json j = nlohmann::json::parse(r1::read_text_file(tiny));
  j["normalizer"] = {{"type", "NFC"}};
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  for (auto& t : j["added_tokens"]) {
    const std::string content = t["content"];
    if (content == "<think>") t["lstrip"] = true;
    if (content == "</think>") t["rstrip"] = true;
    if (content == "<answer>") t["single_word"] = true;
    if (content == "</answer>") t["normalized"] = true;
  }
  j["added_tokens"].push_back({{"id", j["model"]["vocab"].size() + 50},
                               {"content", "caf\xC3\xA9"},
                               {"special", false},
                               {"normalized", true}});
  out.push_back({r1::Tokenizer::from_json(j.dump(), "variant tokenizer.json"), false});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Candidate> candidates = load_candidates();
  if (size == 0) return 0;
  const Candidate& c = candidates[data[0] % candidates.size()];
  const std::string_view text = r1::fuzz::as_text(data + 1, size - 1);
  const std::vector<int32_t> ids = c.tokenizer->encode(text);
  for (const int32_t id : ids) FUZZ_CHECK(id >= 0 && id < c.tokenizer->vocab_size());
  const std::string decoded = c.tokenizer->decode(ids);
  FUZZ_CHECK(r1::utf8::is_valid(decoded));
  if (c.lossless) FUZZ_CHECK(decoded == r1::utf8::to_valid(text));
  r1::StreamingDecoder stream(*c.tokenizer);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string piece = stream.push(id);
    FUZZ_CHECK(r1::utf8::is_valid(piece));
    streamed += piece;
  }
  streamed += stream.flush();
  FUZZ_CHECK(streamed == decoded);
  return 0;
}
