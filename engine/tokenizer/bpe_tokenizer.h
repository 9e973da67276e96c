#pragma once
// The Tokenizer for byte-level BPE tokenizer.json files. encode follows the reference library's pipeline with
// add_special_tokens=false: added tokens (raw) -> normalizer -> added tokens (normalized) -> pre-tokenizer ->
// BPE per pre-token. Bytes that are not valid UTF-8 are each encoded as their own byte token.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/added_vocabulary.h"
#include "engine/tokenizer/bpe_model.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/pre_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_json.h"

namespace r1 {

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(const TokenizerConfig& config, const std::string& origin);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const override;
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> token_id(std::string_view token) const override;
  bool is_special(int32_t id) const override;
  int64_t vocab_size() const override { return int64_t(kinds_.size()); }

 private:
  enum class Kind : uint8_t { None, Model, Added, Special };
  void build_vocabulary(const TokenizerConfig& config, const std::string& origin);
  void build_added_tokens(const TokenizerConfig& config, size_t model_entries);
  void encode_valid(std::string_view text, std::vector<int32_t>& out) const;
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
  void encode_pieces(std::string_view text, std::vector<int32_t>& out) const;
  void set_token(int32_t id, std::string bytes, Kind kind);

  std::vector<std::string> bytes_;  // by id
  std::vector<Kind> kinds_;         // by id
  StringMap<int32_t> ids_;          // vocabulary strings and added-token contents
  Normalizer normalizer_;
  AddedTokenMatcher raw_added_, normalized_added_;
  PreTokenizer pre_tokenizer_;
  std::unique_ptr<BpeModel> bpe_;
  std::array<int32_t, 256> byte_ids_{};
};

}  // namespace r1
