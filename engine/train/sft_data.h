#pragma once
// Supervised fine-tuning data: JSONL examples -> token ids with a loss mask -> TrainBatch rows.
//
// A JSONL line is {"prompt": ..., "completion": ...} or {"messages": [{"role", "content"}, ...]}; an
// assistant message may carry its thought in "reasoning_content" or inline as <think>...</think>. The loss
// mask marks the tokens the model is taught to produce: the completion and the EOS after it, or each
// assistant turn's text and the end-of-turn token the chat template closes it with.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/train/batch.h"

namespace r1 {

struct SftExample {
  int64_t line = 0;  // 1-based line of the source file, for error messages
  std::string prompt, completion;
  std::vector<ChatMessage> messages;  // empty for a prompt/completion example

  bool is_chat() const { return !messages.empty(); }
};

struct SftDataset {
  std::string origin;  // the file, named by every error about an example
  std::vector<SftExample> examples;
};

// Blank lines are skipped and a UTF-8 byte-order mark is tolerated. Errors name the file, the line and the
// field; a file without any example is an error.
SftDataset read_sft_jsonl(const std::filesystem::path& path);
SftDataset parse_sft_jsonl(std::string_view text, const std::string& origin);

// How examples become tokens.
struct SftFormat {
  // Unset: a prompt/completion example is [bos] prompt completion eos, and chat examples are refused.
  std::optional<ChatTemplate> chat;
  // Every assistant turn is a training target, so its reasoning stays in the text (keep_past_reasoning).
  ChatOptions chat_options = {.add_generation_prompt = false, .keep_past_reasoning = true};
  int32_t eos_id = -1;
  std::optional<int32_t> bos_id;  // prepended to plain examples only; a chat template writes its own
  int32_t pad_id = 0;

  // From a model folder's tokenizer_config.json (eos_token, pad_token, bos_token with add_bos_token) and
  // chat template. use_chat_template unset: use the template when the folder has one.
  static SftFormat from_model_dir(const std::filesystem::path& dir, const Tokenizer& tokenizer,
                                  std::optional<bool> use_chat_template = std::nullopt);
};

struct TokenizedExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;  // 1 where ids[i] is a token the model is trained to produce
};

// Each prompt part and each trained part is encoded on its own, so the prompt's tokens are those the model
// sees at inference and no token straddles the boundary. Errors name `origin`, the line and the field; a
// template whose rendering of a conversation's beginning is not a prefix of the whole is refused.
TokenizedExample tokenize_sft_example(const SftExample& example, const Tokenizer& tokenizer,
                                      const SftFormat& format, std::string_view origin = "");
std::vector<TokenizedExample> tokenize_sft(const SftDataset& data, const Tokenizer& tokenizer,
                                           const SftFormat& format);

// Where a batcher stands: the next example is the epoch's shuffled order[position]. Seed and example count
// are saved too so that resuming with other data or another seed fails instead of silently diverging.
struct SftCursor {
  int64_t epoch = 0;
  int64_t position = 0;
  uint64_t seed = 0;
  int64_t examples = 0;

  nlohmann::json to_json() const;
  static SftCursor from_json(const nlohmann::json& j, const std::string& origin);
  bool operator==(const SftCursor&) const = default;
};

struct SftBatchOptions {
  int64_t batch_size = 1;  // B
  int64_t seq_len = 0;     // L: longer examples keep their first L tokens
  uint64_t seed = 0;
  bool shuffle = true;  // false: file order every epoch
  int32_t pad_id = 0;
};

// Over the whole dataset, after truncation to L.
struct SftStats {
  int64_t examples = 0;
  int64_t truncated = 0;       // longer than L
  int64_t untrained = 0;       // no trained target left within L: their rows carry zero weight
  int64_t longest = 0;         // tokens, before truncation
  int64_t tokens = 0;          // kept
  int64_t trained_tokens = 0;  // kept targets with weight 1, per epoch
};

// Rows are examples in a shuffled order that changes every epoch and depends only on (seed, epoch); a batch
// that reaches the end of an epoch continues with the next one, so every batch has B rows.
class SftBatcher {
 public:
  SftBatcher(const std::vector<TokenizedExample>& examples, const SftBatchOptions& options);

  // Fills `batch`, reusing its storage.
  void next(TrainBatch& batch);
  TrainBatch next();

  SftCursor cursor() const;
  // The cursor must come from a batcher over the same number of examples with the same seed.
  void restore(const SftCursor& cursor);

  const SftStats& stats() const { return stats_; }
  const SftBatchOptions& options() const { return options_; }
  int64_t batches_per_epoch() const;

 private:
  void shuffle_epoch();
  void fill_row(int64_t row, int64_t example, TrainBatch& batch) const;

  SftBatchOptions options_;
  std::vector<int32_t> ids_;      // every example's tokens, concatenated
  std::vector<uint8_t> mask_;     // the same layout
  std::vector<int64_t> offsets_;  // example i is [offsets_[i], offsets_[i + 1])
  std::vector<int64_t> order_;    // this epoch's permutation
  int64_t epoch_ = 0, position_ = 0;
  SftStats stats_;
};

}  // namespace r1
