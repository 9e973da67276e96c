#pragma once
// Conversation -> prompt text for the chat formats of the models we load. We do not run Jinja: the family is
// recognised from tokenizer_config.json's chat_template by its distinctive markers (or from the
// architecture), and each family is rendered by code that reproduces its published template exactly
// (tst_chat_template compares with the real templates rendered by a Jinja implementation). An unknown
// template falls back to ChatML with a warning for the caller to show.
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

enum class ChatFamily {
  ChatML,      // <|im_start|>role\n...<|im_end|>\n, no default system prompt
  Qwen25,      // ChatML with Qwen2.5's default system prompt
  Qwen3,       // ChatML with Qwen3's <think> handling for assistant turns (also QwQ)
  DeepSeekR1,  // {bos}{system}<｜User｜>...<｜Assistant｜>...<｜end▁of▁sentence｜>
  Llama3,      // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
};

std::string_view chat_family_name(ChatFamily family);

struct ChatMessage {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // for an assistant turn, the answer without its reasoning
  std::string
      reasoning;  // assistant turns only: the thinking, without <think> tags; empty when there was none
};

struct ChatOptions {
  bool add_generation_prompt = true;
  // Earlier assistant turns' reasoning is dropped from the context by default (the R1 convention; Qwen3's own
  // template does the same); true keeps it as a <think> block.
  bool keep_past_reasoning = false;
  // Qwen3 only: false ends the generation prompt with an empty think block, so the model answers directly.
  bool enable_thinking = true;
};

class ChatTemplate {
 public:
  static constexpr std::string_view kQwen25DefaultSystem =
      "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

  explicit ChatTemplate(ChatFamily family = ChatFamily::ChatML);

  // Recognises the family from a Jinja chat template's text, else from the architecture name (config.json's
  // "architectures"[0] or "model_type"); neither known -> ChatML with warning() set.
  static ChatTemplate detect(std::string_view template_text, std::string_view architecture = "");
  // From tokenizer_config.json's text: chat_template (a string, or a list of {name, template}), bos_token and
  // eos_token. Errors name `origin`.
  static ChatTemplate from_tokenizer_config(std::string_view json_text, std::string_view architecture,
                                            const std::string& origin);
  // From a model folder: chat_template.jinja or tokenizer_config.json, and config.json for the architecture.
  static ChatTemplate from_model_dir(const std::filesystem::path& dir);

  ChatFamily family() const { return family_; }
  const std::string& warning() const { return warning_; }
  const std::string& bos() const { return bos_; }
  // The text that ends an assistant turn: a stop string for generation.
  const std::string& end_of_turn() const { return end_of_turn_; }
  // True when the generation prompt already opens a <think> block (DeepSeek-R1 distills, QwQ), so the reply
  // starts inside the thought and only </think> will come.
  bool generation_opens_thinking() const { return opens_thinking_; }

  std::string render(std::span<const ChatMessage> messages, const ChatOptions& options = {}) const;

 private:
  std::string render_chatml(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_qwen3(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_deepseek(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::string render_llama3(std::span<const ChatMessage> messages, const ChatOptions& options) const;

  ChatFamily family_;
  std::string bos_;
  std::string end_of_turn_;
  std::string warning_;
  bool opens_thinking_ = false;
};

}  // namespace r1
