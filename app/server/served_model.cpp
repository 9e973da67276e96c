#include "served_model.h"

#include <algorithm>
#include <chrono>

#include "engine/core/error.h"

namespace r1::server {

ServedModel ServedModel::load(const std::filesystem::path& dir) {
  ServedModel m;
  m.model = load_model(dir);
  if (!std::filesystem::exists(dir / "tokenizer.json"))
    fail(dir.string(), ": no tokenizer.json; serving needs the model's own tokenizer");
  m.tokenizer = Tokenizer::load(dir);
  if (m.tokenizer->vocab_size() > m.model->config.vocab_size)
    fail(dir.string(), ": tokenizer.json has ", m.tokenizer->vocab_size(),
         " tokens but the model's vocabulary (config.json vocab_size) has ", m.model->config.vocab_size);
  m.chat = ChatTemplate::from_model_dir(dir);
  const bool has_think = m.tokenizer->token_id("<think>") && m.tokenizer->token_id("</think>");
  m.starts_thinking = m.chat.generation_opens_thinking() || has_think;
  if (has_think && !m.chat.generation_opens_thinking()) m.prompt_suffix = "<think>\n";
  for (int64_t id : m.model->stop_ids) m.stop_ids.push_back(int32_t(id));
  const std::string& eot = m.chat.end_of_turn();
  if (const auto eot_id = m.tokenizer->token_id(eot)) {
    if (std::find(m.stop_ids.begin(), m.stop_ids.end(), *eot_id) == m.stop_ids.end())
      m.stop_ids.push_back(*eot_id);
  } else if (!eot.empty()) {
    m.stop_strings.push_back(eot);
  }
  const std::filesystem::path absolute = std::filesystem::absolute(dir).lexically_normal();
  m.id = (absolute.has_filename() ? absolute : absolute.parent_path()).filename().string();
  m.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return m;
}

std::vector<int32_t> ServedModel::chat_prompt(std::span<const ChatMessage> messages) const {
  return tokenizer->encode(chat.render(messages) + prompt_suffix);
}

}  // namespace r1::server
