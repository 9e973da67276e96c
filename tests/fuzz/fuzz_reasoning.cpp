// Fuzz target: the reasoning parser on generated text arriving in pieces. The first byte sets the options
// (bit 0: the prompt opened the thought; bit 1: the pieces are split at every byte instead of at \0);
// the rest is the text. What each push reports must add up to the phases the parser holds, nothing it
// reports may be more than it was given, and thinking time never runs backwards.
#include <string>
#include <vector>

#include "engine/tokenizer/reasoning.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  r1::ReasoningParser::Options options;
  options.starts_in_thinking = data[0] & 1;
  const bool bytewise = data[0] & 2;
  const std::string_view text = r1::fuzz::as_text(data + 1, size - 1);

  std::vector<std::string_view> pieces;
  if (bytewise) {
    for (size_t i = 0; i < text.size(); ++i) pieces.push_back(text.substr(i, 1));
  } else {
    pieces = r1::fuzz::split(text, '\0');
  }
  r1::ReasoningParser parser(options);
  std::string thinking, answer;
  double now = 0;
  for (const std::string_view piece : pieces) {
    const r1::ReasoningParser::Delta d = parser.push(piece, now);
    thinking += d.thinking;
    answer += d.answer;
    now += 1;
  }
  const r1::ReasoningParser::Delta d = parser.finish(now);
  thinking += d.thinking;
  answer += d.answer;
  FUZZ_CHECK(thinking == parser.thinking());
  FUZZ_CHECK(answer == parser.answer());
  FUZZ_CHECK(thinking.size() + answer.size() <= text.size());
  if (const auto seconds = parser.thinking_seconds()) FUZZ_CHECK(*seconds >= 0);
  const r1::ReasoningParser::Delta after = parser.finish(now + 1);
  FUZZ_CHECK(after.thinking.empty() && after.answer.empty());
  return 0;
}
