#include "engine/train/sft_data.h"

#include <algorithm>
#include <numeric>
#include <span>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/core/jsonl.h"
#include "engine/model/json_fields.h"

namespace r1 {

namespace {

using json = nlohmann::json;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string string_field(const json& object, const std::string& key, const std::string& field,
                         const std::string& at) {
  const auto it = object.find(key);
  if (it == object.end()) fail(at, ": field \"", field, "\" is missing");
  if (!it->is_string()) fail(at, ": field \"", field, "\" must be a string, found ", json_brief(*it));
  return it->get<std::string>();
}

std::vector<ChatMessage> read_messages(const json& list, const std::string& at) {
  if (!list.is_array() || list.empty())
    fail(at, ": field \"messages\" must be a non-empty list of {\"role\", \"content\"}, found ",
         json_brief(list));
  std::vector<ChatMessage> messages;
  messages.reserve(list.size());
  bool has_assistant = false;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& m = list[i];
    const std::string name = cat("messages[", i, "]");
    if (!m.is_object())
      fail(at, ": field \"", name, "\" must be an object with \"role\" and \"content\", found ",
           json_brief(m));
    ChatMessage message;
    message.role = string_field(m, "role", name + ".role", at);
    if (message.role != "system" && message.role != "user" && message.role != "assistant")
      fail(at, ": field \"", name, ".role\": unknown role \"", message.role,
           "\" (expected system, user or assistant)");
    message.content = string_field(m, "content", name + ".content", at);
    if (const auto r = m.find("reasoning_content"); r != m.end() && !r->is_null())
      message.reasoning = string_field(m, "reasoning_content", name + ".reasoning_content", at);
    has_assistant = has_assistant || message.role == "assistant";
    messages.push_back(std::move(message));
  }
  if (!has_assistant) fail(at, ": field \"messages\" has no assistant message, so nothing would be trained");
  return messages;
}

SftExample parse_line(std::string_view text, int64_t line, const std::string& origin) {
  const std::string at = jsonl_where(origin, line);
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // The library counts lines within this one line only; its column is what locates the fault.
    const std::string what = e.what();
    const size_t detail = what.find(": ", what.find("column"));
    fail(at, ": not valid JSON at column ", e.byte, ": ",
         detail == std::string::npos ? what : what.substr(detail + 2));
  } catch (const json::exception& e) {  // a number out of range (406)
    fail(at, ": not valid JSON: ", e.what());
  }
  if (!j.is_object())
    fail(at, ": expected an object with \"prompt\" and \"completion\", or \"messages\", found ",
         json_brief(j));
  SftExample example;
  example.line = line;
  const bool has_messages = j.contains("messages");
  if (has_messages && (j.contains("prompt") || j.contains("completion")))
    fail(at, ": has both \"messages\" and \"prompt\"/\"completion\"; an example is one or the other");
  if (has_messages) {
    example.messages = read_messages(j["messages"], at);
  } else if (j.contains("prompt") || j.contains("completion")) {
    example.prompt = string_field(j, "prompt", "prompt", at);
    example.completion = string_field(j, "completion", "completion", at);
  } else {
    fail(at, ": expected fields \"prompt\" and \"completion\", or \"messages\"");
  }
  return example;
}

std::string_view strip_newlines_left(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}

std::string_view strip_newlines(std::string_view s) {
  s = strip_newlines_left(s);
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

// An answer that carries its thought inline is split as Qwen3's template splits it, so that every template
// writes the thought as its own think block instead of some (DeepSeek's) dropping it.
ChatMessage with_reasoning_split(ChatMessage m) {
  if (m.role != "assistant" || !m.reasoning.empty()) return m;
  const std::string_view content = m.content;
  const size_t close = content.find("</think>");
  if (close == std::string_view::npos) return m;
  std::string_view thought = content.substr(0, close);
  if (const size_t open = thought.rfind("<think>"); open != std::string_view::npos)
    thought = thought.substr(open + 7);
  m.reasoning = strip_newlines(thought);
  m.content = strip_newlines_left(content.substr(content.rfind("</think>") + 8));
  return m;
}

void append(TokenizedExample& out, const std::vector<int32_t>& ids, bool trained) {
  out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  out.mask.insert(out.mask.end(), ids.size(), trained ? 1 : 0);
}

TokenizedExample tokenize_plain(const SftExample& example, const Tokenizer& tokenizer,
                                const SftFormat& format, const std::string& at) {
  if (example.is_chat())
    fail(at,
         ": field \"messages\": a chat example needs a chat template, and none is in use (the model "
         "folder has none, or it was turned off)");
  if (format.eos_id < 0)
    fail(at,
         ": no EOS token to end the completion with (tokenizer_config.json's eos_token or config.json's "
         "eos_token_id)");
  TokenizedExample out;
  if (format.bos_id) append(out, {*format.bos_id}, false);
  append(out, tokenizer.encode(example.prompt), false);
  append(out, tokenizer.encode(example.completion), true);
  append(out, {format.eos_id}, true);
  return out;
}

// The trained span of assistant turn i starts where the template's rendering of messages[0..i) with a
// generation prompt ends, and runs to the end-of-turn marker after it. That only holds when the rendering of
// the beginning is a prefix of the whole rendering, which is checked.
TokenizedExample tokenize_chat(const SftExample& example, const Tokenizer& tokenizer, const SftFormat& format,
                               const std::string& at) {
  const ChatTemplate& tpl = *format.chat;
  std::vector<ChatMessage> messages;
  if (example.is_chat()) {
    for (const ChatMessage& m : example.messages) messages.push_back(with_reasoning_split(m));
  } else {
    messages.push_back({"user", example.prompt, ""});
    messages.push_back(with_reasoning_split({"assistant", example.completion, ""}));
  }
  const auto field = [&](size_t i) {
    return example.is_chat() ? cat("messages[", i, "]") : std::string(i == 0 ? "prompt" : "completion");
  };
  const std::string& end_of_turn = tpl.end_of_turn();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "assistant" && (m.content.find(end_of_turn) != std::string::npos ||
                                  m.reasoning.find(end_of_turn) != std::string::npos))
      fail(at, ": field \"", field(i), "\" contains the end-of-turn marker \"", end_of_turn,
           "\", which would end the turn early");
  }
  ChatOptions closed = format.chat_options, open = format.chat_options;
  closed.add_generation_prompt = false;
  open.add_generation_prompt = true;
  const std::string full = tpl.render(messages, closed);
  const auto not_prefix_stable = [&](size_t i) {
    fail(at, ": field \"", field(i), "\": the ", chat_family_name(tpl.family()),
         " chat template renders the conversation before this turn differently from how the whole "
         "conversation renders it (not prefix-stable), so the turn's tokens cannot be located");
  };

  TokenizedExample out;
  size_t done = 0;  // bytes of `full` already encoded
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role != "assistant") continue;
    const std::span<const ChatMessage> before(messages.data(), i);
    const std::string context = tpl.render(before, closed);
    std::string header = tpl.render(before, open);
    if (!header.starts_with(context) || context.size() < done) not_prefix_stable(i);
    if (!full.starts_with(header)) {
      // The generation prompt may open a thought (DeepSeek-R1, QwQ) or hold an empty one (Qwen3 without
      // thinking) that a turn without reasoning is rendered without.
      const size_t think = header.find("<think>", context.size());
      if (think == std::string::npos || !full.starts_with(std::string_view(header).substr(0, think)))
        not_prefix_stable(i);
      header.resize(think);
    }
    const size_t close = full.find(end_of_turn, header.size());
    if (close == std::string::npos)
      fail(at, ": field \"", field(i), "\": the ", chat_family_name(tpl.family()),
           " chat template does not end the turn with \"", end_of_turn, "\"");
    const size_t end = close + end_of_turn.size();
    append(out, tokenizer.encode(std::string_view(full).substr(done, header.size() - done)), false);
    append(out, tokenizer.encode(std::string_view(full).substr(header.size(), end - header.size())), true);
    done = end;
  }
  append(out, tokenizer.encode(std::string_view(full).substr(done)), false);
  return out;
}

// A special token in tokenizer_config.json: a string or an AddedToken object; null or absent: none.
std::optional<int32_t> config_token(const json& config, const char* key, const Tokenizer& tokenizer,
                                    const std::string& origin) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  std::string text;
  if (it->is_string())
    text = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    text = (*it)["content"].get<std::string>();
  else
    fail(origin, ": field \"", key, "\": expected a string, an object with \"content\", or null");
  const std::optional<int32_t> id = tokenizer.token_id(text);
  if (!id) fail(origin, ": field \"", key, "\": token \"", text, "\" is not in the tokenizer's vocabulary");
  return id;
}

json read_json_object(const std::filesystem::path& path) {
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    fail(path.string(), ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail(path.string(), ": expected a JSON object at the top level");
  return j;
}

// The first of config.json's eos_token_id (an integer or a list of them).
std::optional<int32_t> config_eos_id(const std::filesystem::path& path) {
  const json config = read_json_object(path);
  const auto it = config.find("eos_token_id");
  if (it == config.end() || it->is_null()) return std::nullopt;
  const json& id = it->is_array() && !it->empty() ? (*it)[0] : *it;
  if (!id.is_number_integer() || id.get<int64_t>() < 0)
    fail(path.string(), ": field \"eos_token_id\" must be an integer or a list of integers");
  return int32_t(id.get<int64_t>());
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, n) without modulo bias; spelled out because std::uniform_int_distribution and std::shuffle
// differ between standard libraries, and a saved run must resume the same everywhere.
uint64_t uniform_below(uint64_t& state, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = splitmix64(state);
    if (r >= threshold) return r % n;
  }
}

}  // namespace

SftDataset parse_sft_jsonl(std::string_view text, const std::string& origin) {
  SftDataset data{origin, {}};
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  int64_t line = 0;
  for (size_t start = 0; start <= text.size();) {
    const size_t newline = std::min(text.find('\n', start), text.size());
    const std::string_view content = text.substr(start, newline - start);
    ++line;
    if (!jsonl_blank(content)) data.examples.push_back(parse_line(content, line, origin));
    start = newline + 1;
  }
  if (data.examples.empty())
    fail(origin, ": no examples (", text.empty() ? "the file is empty" : "only blank lines", ")");
  return data;
}

SftDataset read_sft_jsonl(const std::filesystem::path& path) {
  return parse_sft_jsonl(read_text_file(path), path.string());
}

SftFormat SftFormat::from_model_dir(const std::filesystem::path& dir, const Tokenizer& tokenizer,
                                    std::optional<bool> use_chat_template) {
  SftFormat format;
  bool has_template = std::filesystem::exists(dir / "chat_template.jinja");
  const auto config_file = dir / "tokenizer_config.json";
  json config = json::object();
  if (std::filesystem::exists(config_file)) {
    config = read_json_object(config_file);
    has_template = has_template || (config.contains("chat_template") && !config["chat_template"].is_null());
  }
  const std::string origin = config_file.string();
  if (const auto eos = config_token(config, "eos_token", tokenizer, origin))
    format.eos_id = *eos;
  else if (std::filesystem::exists(dir / "config.json"))
    format.eos_id = config_eos_id(dir / "config.json").value_or(-1);
  format.pad_id = config_token(config, "pad_token", tokenizer, origin).value_or(0);
  if (const auto add_bos = config.find("add_bos_token");
      add_bos != config.end() && add_bos->is_boolean() && add_bos->get<bool>())
    format.bos_id = config_token(config, "bos_token", tokenizer, origin);
  if (use_chat_template.value_or(has_template)) format.chat = ChatTemplate::from_model_dir(dir);
  return format;
}

TokenizedExample tokenize_sft_example(const SftExample& example, const Tokenizer& tokenizer,
                                      const SftFormat& format, std::string_view origin) {
  const std::string at = jsonl_where(origin, example.line);
  return format.chat ? tokenize_chat(example, tokenizer, format, at)
                     : tokenize_plain(example, tokenizer, format, at);
}

std::vector<TokenizedExample> tokenize_sft(const SftDataset& data, const Tokenizer& tokenizer,
                                           const SftFormat& format) {
  std::vector<TokenizedExample> out;
  out.reserve(data.examples.size());
  for (const SftExample& e : data.examples)
    out.push_back(tokenize_sft_example(e, tokenizer, format, data.origin));
  return out;
}

json SftCursor::to_json() const {
  return {{"epoch", epoch}, {"position", position}, {"seed", seed}, {"examples", examples}};
}

SftCursor SftCursor::from_json(const json& j, const std::string& origin) {
  if (!j.is_object())
    fail(origin, ": expected an object {epoch, position, seed, examples}, found ", json_brief(j));
  const JsonFields fields{j, origin};
  SftCursor c;
  c.epoch = fields.integer("epoch", 0, true, 0);
  c.position = fields.integer("position", 0, true, 0);
  c.examples = fields.integer("examples", 0, true, 1);
  const json* seed = fields.get("seed");
  if (!seed) fields.bad("seed", "is missing");
  if (!seed->is_number_unsigned())
    fields.bad("seed", cat("must be an integer of at least 0, found ", json_brief(*seed)));
  c.seed = seed->get<uint64_t>();
  if (c.position >= c.examples)
    fields.bad("position", cat("must be below \"examples\" (", c.examples, "), found ", c.position));
  return c;
}

SftBatcher::SftBatcher(const std::vector<TokenizedExample>& examples, const SftBatchOptions& options)
    : options_(options) {
  if (options.batch_size < 1) fail("SFT batches: batch size must be at least 1, found ", options.batch_size);
  if (options.seq_len < 2)
    fail("SFT batches: sequence length must be at least 2 (a token and its target), found ", options.seq_len);
  if (examples.empty()) fail("SFT batches: no examples");
  const auto L = size_t(options.seq_len);
  offsets_.reserve(examples.size() + 1);
  offsets_.push_back(0);
  stats_.examples = int64_t(examples.size());
  for (size_t i = 0; i < examples.size(); ++i) {
    const TokenizedExample& e = examples[i];
    if (e.ids.size() != e.mask.size())
      fail("SFT batches: example ", i, " has ", e.ids.size(), " ids but ", e.mask.size(), " mask entries");
    const size_t kept = std::min(e.ids.size(), L);
    stats_.longest = std::max(stats_.longest, int64_t(e.ids.size()));
    stats_.truncated += e.ids.size() > L;
    stats_.tokens += int64_t(kept);
    // Token 0 of a row is never a target: nothing precedes it.
    const int64_t trained =
        kept < 2 ? 0 : std::count(e.mask.begin() + 1, e.mask.begin() + ptrdiff_t(kept), 1);
    stats_.trained_tokens += trained;
    stats_.untrained += trained == 0;
    ids_.insert(ids_.end(), e.ids.begin(), e.ids.begin() + ptrdiff_t(kept));
    mask_.insert(mask_.end(), e.mask.begin(), e.mask.begin() + ptrdiff_t(kept));
    offsets_.push_back(int64_t(ids_.size()));
  }
  order_.resize(examples.size());
  shuffle_epoch();
}

void SftBatcher::shuffle_epoch() {
  std::iota(order_.begin(), order_.end(), int64_t(0));
  if (!options_.shuffle) return;
  uint64_t state = options_.seed;
  uint64_t epoch_key = uint64_t(epoch_);
  state ^= splitmix64(epoch_key);
  for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[uniform_below(state, i + 1)]);
}

void SftBatcher::fill_row(int64_t row, int64_t example, TrainBatch& batch) const {
  const int64_t L = options_.seq_len;
  const int64_t begin = offsets_[size_t(example)];
  const int64_t n = offsets_[size_t(example) + 1] - begin;
  const int32_t* src = ids_.data() + begin;
  const uint8_t* src_mask = mask_.data() + begin;
  int32_t* ids = batch.ids.data() + row * L;
  int32_t* targets = batch.targets.data() + row * L;
  float* weights = batch.weights.data() + row * L;
  for (int64_t t = 0; t < L; ++t) {
    ids[t] = t < n ? src[t] : options_.pad_id;
    const bool has_target = t + 1 < n;
    targets[t] = has_target ? src[t + 1] : 0;
    weights[t] = has_target && src_mask[t + 1] ? 1.0f : 0.0f;
  }
}

void SftBatcher::next(TrainBatch& batch) {
  const int64_t B = options_.batch_size, L = options_.seq_len;
  batch.B = B;
  batch.L = L;
  batch.ids.resize(size_t(B * L));
  batch.targets.resize(size_t(B * L));
  batch.weights.resize(size_t(B * L));
  for (int64_t row = 0; row < B; ++row) {
    fill_row(row, order_[size_t(position_)], batch);
    if (++position_ == int64_t(order_.size())) {
      ++epoch_;
      position_ = 0;
      shuffle_epoch();
    }
  }
}

TrainBatch SftBatcher::next() {
  TrainBatch batch;
  next(batch);
  return batch;
}

int64_t SftBatcher::batches_per_epoch() const {
  const int64_t n = int64_t(order_.size());
  return (n + options_.batch_size - 1) / options_.batch_size;
}

SftCursor SftBatcher::cursor() const {
  return {epoch_, position_, options_.seed, int64_t(order_.size())};
}

void SftBatcher::restore(const SftCursor& cursor) {
  const int64_t n = int64_t(order_.size());
  if (cursor.examples != n)
    fail("SFT cursor: saved for ", cursor.examples, " examples, but this dataset has ", n);
  if (cursor.seed != options_.seed)
    fail("SFT cursor: saved with seed ", cursor.seed, ", but this run's seed is ", options_.seed);
  if (cursor.epoch < 0 || cursor.position < 0 || cursor.position >= n)
    fail("SFT cursor: epoch ", cursor.epoch, " position ", cursor.position, " is outside 0..", n - 1);
  epoch_ = cursor.epoch;
  position_ = cursor.position;
  shuffle_epoch();
}

}  // namespace r1
