// Fuzz target: the chat-template path. The input is NUL-separated parts: tokenizer_config.json text, then a
// flags byte followed by the architecture name, then one part per message (first byte: the role; the
// content, and after a \x01 byte the reasoning). The template is read from the config and also detected
// from the first part taken as a Jinja template; both render the conversation. Rendering with a generation
// prompt must extend the rendering without one (the SFT masks rely on it).
#include <span>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/tokenizer/chat_template.h"
#include "fuzz_support.h"

namespace {

void render_both_ways(const r1::ChatTemplate& tpl, std::span<const r1::ChatMessage> messages,
                      r1::ChatOptions options) {
  options.add_generation_prompt = false;
  const std::string closed = tpl.render(messages, options);
  options.add_generation_prompt = true;
  const std::string open = tpl.render(messages, options);
  FUZZ_CHECK(open.size() >= closed.size() && open.compare(0, closed.size(), closed) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> parts = r1::fuzz::split(r1::fuzz::as_text(data, size), '\0');
  const std::string_view config = parts[0];
  const std::string_view head = parts.size() > 1 ? parts[1] : std::string_view();
  const unsigned flags = head.empty() ? 0u : static_cast<unsigned char>(head[0]);
  const std::string_view architecture = head.empty() ? head : head.substr(1);
  r1::ChatOptions options;
  options.keep_past_reasoning = flags & 1;
  options.enable_thinking = flags & 2;

  std::vector<r1::ChatMessage> messages;
  static const char* const kRoles[] = {"system", "user", "assistant", "tool"};
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    r1::ChatMessage m;
    m.role = kRoles[part.empty() ? 1 : static_cast<unsigned char>(part[0]) % 4];
    const std::string_view body = part.empty() ? part : part.substr(1);
    const size_t cut = body.find('\x01');
    m.content = std::string(body.substr(0, cut));
    if (cut != std::string_view::npos) m.reasoning = std::string(body.substr(cut + 1));
    messages.push_back(std::move(m));
  }

  render_both_ways(r1::ChatTemplate::detect(config, architecture), messages, options);
  try {
    const r1::ChatTemplate tpl =
        r1::ChatTemplate::from_tokenizer_config(config, architecture, "tokenizer_config.json");
    render_both_ways(tpl, messages, options);
    FUZZ_CHECK(!tpl.end_of_turn().empty());
  } catch (const r1::Error&) {
  }
  return 0;
}
