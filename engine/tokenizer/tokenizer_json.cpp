#include "engine/tokenizer/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "engine/core/error.h"

namespace r1 {

namespace {

using json = nlohmann::json;

// Ids index dense per-id tables, so an id far beyond any real vocabulary (a few hundred thousand tokens)
// would make loading allocate gigabytes; such a file is refused instead.
constexpr int64_t kMaxTokenId = (int64_t(1) << 24) - 1;

// Field access that names the file and the field in every error.
class Reader {
 public:
  explicit Reader(const std::string& origin) : origin_(origin) {}

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail(origin_, ": field \"", field, "\": ", what);
  }
  [[noreturn]] void missing(const std::string& field) const {
    fail(origin_, ": field \"", field, "\" is missing");
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& value,
                                const std::string& known) const {
    bad(field, cat("\"", value, "\" is not supported (supported: ", known, ")"));
  }

  const json& object(const json& parent, const char* key, const std::string& field) const {
    const auto it = parent.find(key);
    if (it == parent.end()) missing(field);
    if (!it->is_object()) bad(field, "expected an object");
    return *it;
  }
  std::string string(const json& parent, const char* key, const std::string& field) const {
    const auto it = parent.find(key);
    if (it == parent.end()) missing(field);
    if (!it->is_string()) bad(field, "expected a string");
    return it->get<std::string>();
  }
  bool boolean(const json& parent, const char* key, const std::string& field, bool fallback) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) bad(field, "expected true or false");
    return it->get<bool>();
  }
  // An optional string that must be empty (or null) for us to support the file.
  void must_be_empty(const json& parent, const char* key, const std::string& field) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return;
    if (!it->is_string() || !it->get<std::string>().empty())
      bad(field, "only an empty value or null is supported");
  }
  std::string type_of(const json& node, const std::string& field) const {
    if (!node.is_object()) bad(field, "expected an object");
    return string(node, "type", field + ".type");
  }

 private:
  const std::string& origin_;
};

void read_model(const Reader& r, const json& root, TokenizerConfig& c) {
  const json& model = r.object(root, "model", "model");
  if (model.contains("type")) {
    const std::string type = r.string(model, "type", "model.type");
    if (type != "BPE") r.unsupported("model.type", type, "BPE");
  }
  const json& vocab = r.object(model, "vocab", "model.vocab");
  c.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokenId)
      r.bad("model.vocab",
            cat("the id of \"", token, "\" is ", id.dump(), "; ids are integers from 0 to ", kMaxTokenId));
    c.vocab.emplace_back(token, int32_t(id.get<int64_t>()));
  }
  const auto merges = model.find("merges");
  if (merges == model.end()) r.missing("model.merges");
  if (!merges->is_array()) r.bad("model.merges", "expected a list");
  c.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        r.bad(cat("model.merges[", i, "]"), cat("\"", s, "\" is not two tokens separated by one space"));
      c.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      c.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      r.bad(cat("model.merges[", i, "]"), "expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  c.ignore_merges = r.boolean(model, "ignore_merges", "model.ignore_merges", false);
  c.fuse_unk = r.boolean(model, "fuse_unk", "model.fuse_unk", false);
  if (r.boolean(model, "byte_fallback", "model.byte_fallback", false))
    r.bad("model.byte_fallback", "byte fallback is not supported (byte-level BPE needs none)");
  if (const auto d = model.find("dropout"); d != model.end() && !d->is_null() && !(d->is_number() && *d == 0))
    r.bad("model.dropout", "BPE dropout is not supported");
  r.must_be_empty(model, "continuing_subword_prefix", "model.continuing_subword_prefix");
  r.must_be_empty(model, "end_of_word_suffix", "model.end_of_word_suffix");
  if (const auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    if (!u->is_string()) r.bad("model.unk_token", "expected a string or null");
    c.unk_token = u->get<std::string>();
  }
}

void read_added_tokens(const Reader& r, const json& root, TokenizerConfig& c) {
  const auto list = root.find("added_tokens");
  if (list == root.end() || list->is_null()) return;
  if (!list->is_array()) r.bad("added_tokens", "expected a list");
  for (size_t i = 0; i < list->size(); ++i) {
    const json& t = (*list)[i];
    const std::string field = cat("added_tokens[", i, "]");
    if (!t.is_object()) r.bad(field, "expected an object");
    AddedToken a;
    const auto id = t.find("id");
    if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 ||
        id->get<int64_t>() > kMaxTokenId)
      r.bad(field + ".id", cat("expected an integer from 0 to ", kMaxTokenId));
    a.id = int32_t(id->get<int64_t>());
    a.content = r.string(t, "content", field + ".content");
    a.special = r.boolean(t, "special", field + ".special", false);
    a.lstrip = r.boolean(t, "lstrip", field + ".lstrip", false);
    a.rstrip = r.boolean(t, "rstrip", field + ".rstrip", false);
    a.single_word = r.boolean(t, "single_word", field + ".single_word", false);
    a.normalized = r.boolean(t, "normalized", field + ".normalized", !a.special);
    c.added_tokens.push_back(std::move(a));
  }
}

void read_normalizer(const Reader& r, const json& node, const std::string& field, TokenizerConfig& c) {
  if (node.is_null()) return;
  const std::string type = r.type_of(node, field);
  if (type == "NFC") {
    c.nfc = true;
  } else if (type == "Sequence") {
    const auto list = node.find("normalizers");
    if (list == node.end() || !list->is_array()) r.bad(field + ".normalizers", "expected a list");
    for (size_t i = 0; i < list->size(); ++i)
      read_normalizer(r, (*list)[i], cat(field, ".normalizers[", i, "]"), c);
  } else {
    r.unsupported(field + ".type", type, "NFC, Sequence");
  }
}

void read_pre_tokenizer(const Reader& r, const json& node, const std::string& field, bool& byte_level,
                        TokenizerConfig& c) {
  const std::string type = r.type_of(node, field);
  if (byte_level) r.bad(field, "ByteLevel must be the last pre-tokenizer step");
  if (type == "Sequence") {
    const auto list = node.find("pretokenizers");
    if (list == node.end() || !list->is_array()) r.bad(field + ".pretokenizers", "expected a list");
    for (size_t i = 0; i < list->size(); ++i)
      read_pre_tokenizer(r, (*list)[i], cat(field, ".pretokenizers[", i, "]"), byte_level, c);
  } else if (type == "Split") {
    TokenizerConfig::SplitStep step;
    step.field = field + ".pattern";
    const json& pattern = r.object(node, "pattern", step.field);
    if (pattern.contains("Regex")) {
      step.pattern = r.string(pattern, "Regex", step.field + ".Regex");
    } else if (pattern.contains("String")) {
      step.pattern = r.string(pattern, "String", step.field + ".String");
      step.literal = true;
    } else {
      r.bad(step.field, "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string behavior = r.string(node, "behavior", field + ".behavior");
    if (behavior != "Isolated") r.unsupported(field + ".behavior", behavior, "Isolated");
    if (r.boolean(node, "invert", field + ".invert", false))
      r.bad(field + ".invert", "only false is supported");
    c.splits.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    byte_level =
        true;  // the reference's defaults: add_prefix_space and use_regex are on unless the file says not
    c.add_prefix_space = r.boolean(node, "add_prefix_space", field + ".add_prefix_space", true);
    c.use_regex = r.boolean(node, "use_regex", field + ".use_regex", true);
  } else {
    r.unsupported(field + ".type", type, "Sequence, Split, ByteLevel");
  }
}

void read_decoder(const Reader& r, const json& root) {
  const auto d = root.find("decoder");
  if (d == root.end() || d->is_null()) r.bad("decoder", "a ByteLevel decoder is required");
  const std::string type = r.type_of(*d, "decoder");
  if (type != "ByteLevel") r.unsupported("decoder.type", type, "ByteLevel");
}

}  // namespace

TokenizerConfig parse_tokenizer_json(std::string_view json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(origin, ": not valid JSON (", e.what(), ")");
  }
  const Reader r(origin);
  if (!root.is_object()) fail(origin, ": expected a JSON object at the top level");
  TokenizerConfig c;
  read_model(r, root, c);
  read_added_tokens(r, root, c);
  if (const auto n = root.find("normalizer"); n != root.end()) read_normalizer(r, *n, "normalizer", c);
  const auto pre = root.find("pre_tokenizer");
  bool byte_level = false;
  if (pre != root.end() && !pre->is_null()) read_pre_tokenizer(r, *pre, "pre_tokenizer", byte_level, c);
  if (!byte_level) r.bad("pre_tokenizer", "a ByteLevel step is required (only byte-level BPE is supported)");
  read_decoder(r, root);
  return c;
}

}  // namespace r1
