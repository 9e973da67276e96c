#include "engine/tokenizer/chat_template.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/utf8.h"

namespace r1 {

namespace {

using json = nlohmann::json;

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";
constexpr std::string_view kDeepSeekUser = "<｜User｜>";
constexpr std::string_view kDeepSeekAssistant = "<｜Assistant｜>";
constexpr std::string_view kDeepSeekBos = "<｜begin▁of▁sentence｜>";
constexpr std::string_view kDeepSeekEos = "<｜end▁of▁sentence｜>";
constexpr std::string_view kLlamaBos = "<|begin_of_text|>";
constexpr std::string_view kLlamaHeaderStart = "<|start_header_id|>";
constexpr std::string_view kLlamaEot = "<|eot_id|>";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Python's str.strip('\n'), lstrip('\n') and rstrip('\n').
std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}
std::string_view strip_newlines(std::string_view s) {
  return rstrip_newlines(lstrip_newlines(s));
}

// Python's str.isspace, which Jinja's trim filter uses.
bool is_python_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string_view trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end) {
    const utf8::Scan sc = utf8::scan(s, begin);
    if (sc.step != utf8::Step::Valid || !is_python_space(utf8::decode(s.data() + begin, sc.length))) break;
    begin += sc.length;
  }
  while (end > begin) {
    size_t b = end - 1;
    while (b > begin && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
    const utf8::Scan sc = utf8::scan(s, b);
    if (sc.step != utf8::Step::Valid || b + sc.length != end ||
        !is_python_space(utf8::decode(s.data() + b, sc.length)))
      break;
    end = b;
  }
  return s.substr(begin, end - begin);
}

// What follows the last </think> in an answer that still carries its thought, as the templates split it.
std::string_view after_last_think_close(std::string_view content) {
  const size_t close = content.rfind("</think>");
  return close == std::string_view::npos ? content : content.substr(close + 8);
}

std::string think_block(std::string_view reasoning, std::string_view answer) {
  return "<think>\n" + std::string(reasoning) + "\n</think>\n\n" + std::string(answer);
}

// A special token in tokenizer_config.json: a string, an AddedToken object, or null.
std::optional<std::string> token_text(const json& config, const char* key, const std::string& origin) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  fail(origin, ": field \"", key, "\": expected a string, an object with \"content\", or null");
}

json parse_json(std::string_view text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(origin, ": not valid JSON (", e.what(), ")");
  }
}

}  // namespace

std::string_view chat_family_name(ChatFamily family) {
  switch (family) {
    case ChatFamily::ChatML:
      return "ChatML";
    case ChatFamily::Qwen25:
      return "Qwen2.5";
    case ChatFamily::Qwen3:
      return "Qwen3";
    case ChatFamily::DeepSeekR1:
      return "DeepSeek-R1";
    case ChatFamily::Llama3:
      return "Llama 3";
  }
  return "?";
}

ChatTemplate::ChatTemplate(ChatFamily family) : family_(family) {
  switch (family) {
    case ChatFamily::DeepSeekR1:
      bos_ = kDeepSeekBos;
      end_of_turn_ = kDeepSeekEos;
      opens_thinking_ = true;
      break;
    case ChatFamily::Llama3:
      bos_ = kLlamaBos;
      end_of_turn_ = kLlamaEot;
      break;
    default:
      end_of_turn_ = kImEnd;
      break;
  }
}

ChatTemplate ChatTemplate::detect(std::string_view text, std::string_view architecture) {
  if (contains(text, kDeepSeekUser) || contains(text, kDeepSeekAssistant)) {
    ChatTemplate t(ChatFamily::DeepSeekR1);
    t.opens_thinking_ = contains(text, "<｜Assistant｜><think>");  // DeepSeek-V3's template leaves it closed
    return t;
  }
  if (contains(text, kLlamaHeaderStart)) return ChatTemplate(ChatFamily::Llama3);
  if (contains(text, kImStart)) {
    if (contains(text, "reasoning_content") || contains(text, "<think>")) {
      ChatTemplate t(ChatFamily::Qwen3);
      // QwQ and the Qwen3 "Thinking" models open the thought in the generation prompt themselves.
      t.opens_thinking_ = contains(text, "'<|im_start|>assistant\\n<think>\\n'");
      return t;
    }
    if (contains(text, kQwen25DefaultSystem)) return ChatTemplate(ChatFamily::Qwen25);
    return ChatTemplate(ChatFamily::ChatML);
  }
  const std::string arch = lower(architecture);
  ChatTemplate t(ChatFamily::ChatML);
  if (text.empty() && contains(arch, "qwen3")) {
    t = ChatTemplate(ChatFamily::Qwen3);
  } else if (text.empty() && contains(arch, "qwen2")) {
    t = ChatTemplate(ChatFamily::Qwen25);
  } else if (text.empty() && contains(arch, "deepseek")) {
    t = ChatTemplate(ChatFamily::DeepSeekR1);
  } else if (text.empty() && contains(arch, "llama")) {
    t = ChatTemplate(ChatFamily::Llama3);
  } else if (text.empty()) {
    t.warning_ = "no chat template, and architecture \"" + std::string(architecture) +
                 "\" has no known chat format: using ChatML";
  } else {
    t.warning_ = "chat template not recognised (no ChatML, DeepSeek or Llama 3 markers): using ChatML";
  }
  return t;
}

ChatTemplate ChatTemplate::from_tokenizer_config(std::string_view json_text, std::string_view architecture,
                                                 const std::string& origin) {
  const json config = parse_json(json_text, origin);
  if (!config.is_object()) fail(origin, ": expected a JSON object at the top level");
  std::string text;
  if (const auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      text = it->get<std::string>();
    } else if (it->is_array() && !it->empty()) {  // named templates: the default one, else the first
      const json* chosen = &(*it)[0];
      for (const auto& named : *it)
        if (named.is_object() && named.contains("name") && named["name"] == "default") chosen = &named;
      if (!chosen->is_object() || !chosen->contains("template") || !(*chosen)["template"].is_string())
        fail(origin, ": field \"chat_template\": expected a list of {\"name\", \"template\"}");
      text = (*chosen)["template"].get<std::string>();
    } else {
      fail(origin, ": field \"chat_template\": expected a string or a list of named templates");
    }
  }
  ChatTemplate t = detect(text, architecture);
  if (const auto bos = token_text(config, "bos_token", origin)) t.bos_ = *bos;
  return t;
}

ChatTemplate ChatTemplate::from_model_dir(const std::filesystem::path& dir) {
  std::string architecture;
  if (const auto config = dir / "config.json"; std::filesystem::exists(config)) {
    const json c = parse_json(read_text_file(config), config.string());
    if (c.is_object() && c.contains("architectures") && c["architectures"].is_array() &&
        !c["architectures"].empty() && c["architectures"][0].is_string())
      architecture = c["architectures"][0].get<std::string>();
    else if (c.is_object() && c.contains("model_type") && c["model_type"].is_string())
      architecture = c["model_type"].get<std::string>();
  }
  const auto config_file = dir / "tokenizer_config.json";
  ChatTemplate t =
      std::filesystem::exists(config_file)
          ? from_tokenizer_config(read_text_file(config_file), architecture, config_file.string())
          : detect("", architecture);
  if (const auto jinja = dir / "chat_template.jinja"; std::filesystem::exists(jinja)) {  // takes precedence
    const std::string bos = t.bos_;
    t = detect(read_text_file(jinja), architecture);
    if (std::filesystem::exists(config_file)) t.bos_ = bos;
  }
  return t;
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  switch (family_) {
    case ChatFamily::Qwen3:
      return render_qwen3(messages, options);
    case ChatFamily::DeepSeekR1:
      return render_deepseek(messages, options);
    case ChatFamily::Llama3:
      return render_llama3(messages, options);
    default:
      return render_chatml(messages, options);
  }
}

// ChatML, and Qwen2.5's template: the same turns, with its default system prompt when none is given.
std::string ChatTemplate::render_chatml(std::span<const ChatMessage> messages,
                                        const ChatOptions& options) const {
  std::string out;
  const auto turn = [&out](std::string_view role, std::string_view content) {
    out.append(kImStart).append(role).append("\n").append(content).append(kImEnd).append("\n");
  };
  if (family_ == ChatFamily::Qwen25 && (messages.empty() || messages.front().role != "system"))
    turn("system", kQwen25DefaultSystem);
  for (const ChatMessage& m : messages) {
    if (m.role == "assistant" && options.keep_past_reasoning && !m.reasoning.empty())
      turn(m.role, think_block(m.reasoning, m.content));
    else
      turn(m.role, m.content);
  }
  if (options.add_generation_prompt) out.append(kImStart).append("assistant\n");
  return out;
}

// Qwen3's template: assistant turns after the last user message show their thought (the last one always, with
// an empty block when it has none); earlier turns show only the answer.
std::string ChatTemplate::render_qwen3(std::span<const ChatMessage> messages,
                                       const ChatOptions& options) const {
  std::string out;
  const auto open = [&out](std::string_view role) { out.append(kImStart).append(role).append("\n"); };
  if (!messages.empty() && messages.front().role == "system") {
    open("system");
    out.append(messages.front().content).append(kImEnd).append("\n");
  }
  size_t last_query = messages.empty() ? 0 : messages.size() - 1;
  for (size_t i = messages.size(); i-- > 0;) {
    const std::string& c = messages[i].content;
    const bool tool_response = c.starts_with("<tool_response>") && c.ends_with("</tool_response>");
    if (messages[i].role == "user" && !tool_response) {
      last_query = i;
      break;
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      open(m.role);
      out.append(m.content).append(kImEnd).append("\n");
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning = m.reasoning;
      if (reasoning.empty() && contains(content, "</think>")) {  // an answer that still carries its thought
        std::string_view before = rstrip_newlines(content.substr(0, content.find("</think>")));
        if (const size_t open_tag = before.rfind("<think>"); open_tag != std::string_view::npos)
          before = before.substr(open_tag + 7);
        reasoning = lstrip_newlines(before);
        content = lstrip_newlines(after_last_think_close(content));
      }
      open(m.role);
      const bool recent = i > last_query && (i + 1 == messages.size() || !reasoning.empty());
      if (recent || (options.keep_past_reasoning && !reasoning.empty()))
        out.append(think_block(strip_newlines(reasoning), lstrip_newlines(content)));
      else
        out.append(content);
      out.append(kImEnd).append("\n");
    }
  }
  if (options.add_generation_prompt) {
    open("assistant");
    if (opens_thinking_)
      out.append("<think>\n");
    else if (!options.enable_thinking)
      out.append("<think>\n\n</think>\n\n");
  }
  return out;
}

// DeepSeek-R1 distill: the system prompt right after BOS, then <｜User｜>/<｜Assistant｜> turns; an assistant
// turn keeps only what follows </think>.
std::string ChatTemplate::render_deepseek(std::span<const ChatMessage> messages,
                                          const ChatOptions& options) const {
  std::string out = bos_;
  for (const ChatMessage& m : messages)
    if (m.role == "system") out = bos_ + m.content;  // the template keeps the last system message
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      out.append(kDeepSeekUser).append(m.content);
    } else if (m.role == "assistant") {
      const std::string_view answer = after_last_think_close(m.content);
      out.append(kDeepSeekAssistant);
      if (options.keep_past_reasoning && !m.reasoning.empty())
        out.append(think_block(m.reasoning, answer));
      else
        out.append(answer);
      out.append(kDeepSeekEos);
    }
  }
  if (options.add_generation_prompt) {
    out.append(kDeepSeekAssistant);
    if (opens_thinking_) out.append("<think>\n");
  }
  return out;
}

// Llama 3: BOS, then one header block per message with its content trimmed.
std::string ChatTemplate::render_llama3(std::span<const ChatMessage> messages,
                                        const ChatOptions& options) const {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (i == 0) out.append(bos_);
    const std::string content = m.role == "assistant" && options.keep_past_reasoning && !m.reasoning.empty()
                                    ? think_block(m.reasoning, m.content)
                                    : m.content;
    out.append(kLlamaHeaderStart).append(m.role).append("<|end_header_id|>\n\n");
    out.append(trim(content)).append(kLlamaEot);
  }
  if (options.add_generation_prompt) out.append(kLlamaHeaderStart).append("assistant<|end_header_id|>\n\n");
  return out;
}

}  // namespace r1
