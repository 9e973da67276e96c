#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/utf8.h"

namespace r1 {

namespace {

// What a vocabulary string stands for: its bytes in the byte-level alphabet, or (as the ByteLevel decoder
// does for strings outside that alphabet) its own UTF-8.
std::string bytes_of(const std::string& token) {
  return byte_level::decode(token).value_or(token);
}

}  // namespace

BpeTokenizer::BpeTokenizer(const TokenizerConfig& config, const std::string& origin) {
  if (config.nfc) normalizer_ = Normalizer::nfc();
  for (const auto& split : config.splits)
    pre_tokenizer_.add_split(
        std::make_unique<Regex>(split.pattern, split.literal, origin + ": " + split.field));
  pre_tokenizer_.set_byte_level(config.add_prefix_space, config.use_regex);
  build_vocabulary(config, origin);
  build_added_tokens(config, config.vocab.size());
}

void BpeTokenizer::set_token(int32_t id, std::string bytes, Kind kind) {
  if (size_t(id) >= kinds_.size()) {
    kinds_.resize(size_t(id) + 1, Kind::None);
    bytes_.resize(size_t(id) + 1);
  }
  bytes_[size_t(id)] = std::move(bytes);
  kinds_[size_t(id)] = kind;
}

void BpeTokenizer::build_vocabulary(const TokenizerConfig& config, const std::string& origin) {
  if (config.vocab.empty()) fail(origin, ": field \"model.vocab\": the vocabulary is empty");
  ids_.reserve(config.vocab.size() + config.added_tokens.size());
  StringMap<int32_t> whole_tokens;
  if (config.ignore_merges) whole_tokens.reserve(config.vocab.size());
  for (const auto& [token, id] : config.vocab) {
    ids_[token] = id;
    std::string bytes = bytes_of(token);
    if (config.ignore_merges) whole_tokens.emplace(bytes, id);
    set_token(id, std::move(bytes), Kind::Model);
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = ids_.find(byte_level::encode(std::string(1, char(b))));
    byte_ids_[size_t(b)] = it == ids_.end() ? -1 : it->second;
  }
  const auto id_of = [&](const std::string& token, size_t rank) {
    const auto it = ids_.find(token);
    if (it == ids_.end())
      fail(origin, ": field \"model.merges[", rank, "]\": \"", token, "\" is not in model.vocab");
    return it->second;
  };
  std::vector<BpeModel::Merge> merges;
  merges.reserve(config.merges.size());
  for (size_t rank = 0; rank < config.merges.size(); ++rank) {
    const auto& [left, right] = config.merges[rank];
    merges.push_back({id_of(left, rank), id_of(right, rank), id_of(left + right, rank)});
  }
  BpeModel::Options options;
  options.ignore_merges = config.ignore_merges;
  options.fuse_unk = config.fuse_unk;
  if (config.unk_token) {
    const auto it = ids_.find(*config.unk_token);
    if (it != ids_.end()) options.unk_id = it->second;
  }
  bpe_ = std::make_unique<BpeModel>(byte_ids_, merges, std::move(whole_tokens), options);
}

// Ids as the reference library assigns them when it loads the file: a token whose content is already in the
// vocabulary takes that id; any other takes the next id after the vocabulary and the added tokens so far (the
// ids written in the file agree with this in every real tokenizer.json). Repeated contents are ignored.
void BpeTokenizer::build_added_tokens(const TokenizerConfig& config, size_t model_entries) {
  StringMap<int32_t> added_ids;
  std::unordered_set<std::string> special;
  for (const AddedToken& t : config.added_tokens)
    if (t.special && !t.content.empty()) special.insert(t.content);
  int64_t max_added = -1;
  for (AddedToken t : config.added_tokens) {
    if (t.content.empty() || added_ids.count(t.content)) continue;
    if (const auto it = ids_.find(t.content); it != ids_.end()) {
      t.id = it->second;
    } else if (max_added < 0) {
      t.id = int32_t(model_entries);
    } else {
      t.id = max_added >= int64_t(model_entries) ? int32_t(max_added + 1) : int32_t(model_entries);
    }
    max_added = std::max<int64_t>(max_added, t.id);
    added_ids[t.content] = t.id;
    ids_[t.content] = t.id;
    // A normalized token is found in, and decodes to, its normalized form.
    std::string text = t.content;
    if (t.normalized && utf8::is_valid(t.content) && normalizer_.apply(t.content, text)) ids_[text] = t.id;
    set_token(t.id, bytes_of(text), special.count(t.content) ? Kind::Special : Kind::Added);
    (t.normalized ? normalized_added_ : raw_added_).add(t, text);
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  size_t i = 0, run = 0;  // [run, i) is valid UTF-8 not yet encoded
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const utf8::Scan s = utf8::scan(text, i);
    if (s.step == utf8::Step::Valid) {
      i += s.length;
      continue;
    }
    encode_valid(text.substr(run, i - run), out);
    for (size_t k = 0; k < s.length; ++k) bpe_->encode(text.substr(i + k, 1), out);
    i += s.length;
    run = i;
  }
  encode_valid(text.substr(run), out);
  return out;
}

void BpeTokenizer::encode_valid(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (raw_added_.empty()) return encode_segment(text, out);
  std::vector<AddedTokenMatcher::Piece> pieces;
  raw_added_.split(text, pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0)
      out.push_back(p.id);
    else
      encode_segment(text.substr(p.begin, p.end - p.begin), out);
  }
}

void BpeTokenizer::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized;
  if (normalizer_.apply(text, normalized)) text = normalized;
  if (normalized_added_.empty()) return encode_pieces(text, out);
  std::vector<AddedTokenMatcher::Piece> pieces;
  normalized_added_.split(text, pieces);
  for (const auto& p : pieces) {
    if (p.id >= 0)
      out.push_back(p.id);
    else
      encode_pieces(text.substr(p.begin, p.end - p.begin), out);
  }
}

void BpeTokenizer::encode_pieces(std::string_view text, std::vector<int32_t>& out) const {
  pre_tokenizer_.split(text, [&](std::string_view piece) { bpe_->encode(piece, out); });
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || size_t(id) >= kinds_.size() || kinds_[size_t(id)] == Kind::None) continue;
    if (skip_special && kinds_[size_t(id)] == Kind::Special) continue;
    bytes += bytes_[size_t(id)];
  }
  return utf8::to_valid(bytes);
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || size_t(id) >= kinds_.size()) return {};
  return bytes_[size_t(id)];
}

std::optional<int32_t> BpeTokenizer::token_id(std::string_view token) const {
  const auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

bool BpeTokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < kinds_.size() && kinds_[size_t(id)] == Kind::Special;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json(std::string_view json_text, const std::string& origin) {
  return std::make_shared<BpeTokenizer>(parse_tokenizer_json(json_text, origin), origin);
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  if (std::filesystem::is_directory(path)) {
    file = path / "tokenizer.json";
    if (!std::filesystem::exists(file)) fail(path.string(), ": no tokenizer.json in this folder");
  } else if (!std::filesystem::exists(path)) {
    fail(path.string(), ": no such file or folder");
  }
  return from_json(read_text_file(file), file.string());
}

}  // namespace r1
