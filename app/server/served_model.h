#pragma once
// The model a server answers with: weights, tokenizer, chat format and how its replies end. Loaded once;
// read-only afterwards, so request threads and the scheduler share it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace r1::server {

struct ServedModel {
  std::string id;       // the model folder's name, reported as the OpenAI model id
  int64_t created = 0;  // when it was loaded, Unix seconds
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  ChatTemplate chat;
  // Appended to a chat prompt: "<think>\n" when the vocabulary has think tags but the template does not open
  // the thought itself, so every reply starts with its reasoning.
  std::string prompt_suffix;
  // A chat reply starts inside an opened <think>: the model writes only the closing tag.
  bool starts_thinking = false;
  std::vector<int32_t> stop_ids;          // the model's EOS ids and the template's end-of-turn token
  std::vector<std::string> stop_strings;  // an end-of-turn marker that is not a single token

  // Reads config.json, the weights, tokenizer.json and the chat template of a model folder.
  static ServedModel load(const std::filesystem::path& dir);

  // The prompt ids of a conversation, ready for the assistant's reply.
  std::vector<int32_t> chat_prompt(std::span<const ChatMessage> messages) const;
};

}  // namespace r1::server
