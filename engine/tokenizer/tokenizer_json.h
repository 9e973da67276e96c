#pragma once
// Reads a Hugging Face tokenizer.json into plain data, checking every field we rely on. What we cannot honour
// exactly (another model type, another normalizer, a Split behaviour other than Isolated...) is an r1::Error
// naming the file and the field, never a silent approximation.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/added_vocabulary.h"

namespace r1 {

struct TokenizerConfig {
  struct SplitStep {
    std::string pattern;
    bool literal = false;  // {"String": ...} rather than {"Regex": ...}
    std::string field;     // e.g. pre_tokenizer.pretokenizers[0], for errors
  };

  std::vector<std::pair<std::string, int32_t>> vocab;       // model.vocab, byte-level strings
  std::vector<std::pair<std::string, std::string>> merges;  // model.merges, in rank order
  bool ignore_merges = false;
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  std::vector<AddedToken> added_tokens;  // in file order, ids as written
  bool nfc = false;
  std::vector<SplitStep> splits;
  bool add_prefix_space = false;
  bool use_regex = false;
};

TokenizerConfig parse_tokenizer_json(std::string_view json_text, const std::string& origin);

}  // namespace r1
