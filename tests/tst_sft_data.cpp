// Supervised fine-tuning data: the JSONL reader and its errors, loss masks with and without a chat template
// (the trained tokens decode to exactly the completion or the assistant turns), truncation, padding, the
// target shift, deterministic shuffling and resuming from a saved cursor.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "engine/core/error.h"
#include "engine/train/sft_data.h"
#include "testlib/test_support.h"

using namespace r1;
using json = nlohmann::json;

namespace {

std::filesystem::path model_dir() {
  return test::fixtures() / "models" / "qwen2-tied";
}

const Tokenizer& fixture_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tok = Tokenizer::load(model_dir());
  return *tok;
}

int32_t id_of(const std::string& token) {
  const auto id = fixture_tokenizer().token_id(token);
  if (!id) throw Error("fixture tokenizer lacks " + token);
  return *id;
}

// The text of the tokens whose mask equals `trained`.
std::string text_where(const TokenizedExample& e, bool trained) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < e.ids.size(); ++i)
    if (bool(e.mask[i]) == trained) ids.push_back(e.ids[i]);
  return fixture_tokenizer().decode(ids);
}

// Each maximal run of trained tokens, decoded.
std::vector<std::string> trained_spans(const TokenizedExample& e) {
  std::vector<std::string> spans;
  std::vector<int32_t> run;
  for (size_t i = 0; i <= e.ids.size(); ++i) {
    if (i < e.ids.size() && e.mask[i]) {
      run.push_back(e.ids[i]);
    } else if (!run.empty()) {
      spans.push_back(fixture_tokenizer().decode(run));
      run.clear();
    }
  }
  return spans;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += "[" + p + "]";
  return s;
}

SftExample chat_example(std::vector<ChatMessage> messages) {
  SftExample e;
  e.line = 7;
  e.messages = std::move(messages);
  return e;
}

SftFormat format_with(ChatFamily family) {
  SftFormat f;
  f.chat = ChatTemplate(family);
  f.eos_id = id_of("<|im_end|>");
  return f;
}

// Example i starts with token 1000 + i, so a batch row tells which example it holds.
std::vector<TokenizedExample> numbered_examples(int count) {
  std::vector<TokenizedExample> out;
  for (int i = 0; i < count; ++i) {
    TokenizedExample e;
    for (int t = 0; t < 3 + i % 4; ++t) {
      e.ids.push_back(t == 0 ? 1000 + i : 10 * i + t);
      e.mask.push_back(t >= 2);
    }
    out.push_back(e);
  }
  return out;
}

// The example order a batcher yields over `epochs` epochs of `n` examples.
std::vector<int64_t> order_of(SftBatcher& batcher, int64_t n, int epochs) {
  std::vector<int64_t> order;
  TrainBatch batch;
  while (int64_t(order.size()) < n * epochs) {
    batcher.next(batch);
    for (int64_t row = 0; row < batch.B; ++row) order.push_back(batch.ids[size_t(row * batch.L)] - 1000);
  }
  order.resize(size_t(n * epochs));
  return order;
}

bool same_batch(const TrainBatch& a, const TrainBatch& b) {
  return a.B == b.B && a.L == b.L && a.ids == b.ids && a.targets == b.targets && a.weights == b.weights;
}

}  // namespace

class TestSftData : public QObject {
  Q_OBJECT

 private slots:
  void reads_both_line_formats() {
    test::TempDir dir;
    const auto path = dir / "train.jsonl";
    test::write_bytes(path,
                      "\xEF\xBB\xBF{\"prompt\": \"What is 2+2?\", \"completion\": \" 4\"}\r\n"
                      "\n"
                      "  \t\n"
                      "{\"id\": 17, \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                      "{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": "
                      "\"Hello\", \"reasoning_content\": \"Greet back.\"}]}");
    const SftDataset data = read_sft_jsonl(path);
    QCOMPARE(data.origin, path.string());
    QCOMPARE(data.examples.size(), size_t(2));
    const SftExample& plain = data.examples[0];
    QCOMPARE(plain.line, int64_t(1));
    QVERIFY(!plain.is_chat());
    QCOMPARE(plain.prompt, std::string("What is 2+2?"));
    QCOMPARE(plain.completion, std::string(" 4"));
    const SftExample& chat = data.examples[1];
    QCOMPARE(chat.line, int64_t(4));
    QVERIFY(chat.is_chat());
    QCOMPARE(chat.messages.size(), size_t(3));
    QCOMPARE(chat.messages[0].role, std::string("system"));
    QCOMPARE(chat.messages[1].content, std::string("Hi"));
    QCOMPARE(chat.messages[2].role, std::string("assistant"));
    QCOMPARE(chat.messages[2].content, std::string("Hello"));
    QCOMPARE(chat.messages[2].reasoning, std::string("Greet back."));
  }

  void errors_name_file_line_and_field_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("line");  // 0: the error is about the whole file
    QTest::addColumn<QStringList>("fragments");
    const QByteArray good = "{\"prompt\": \"a\", \"completion\": \"b\"}\n";
    const auto messages = [](const char* list) { return QByteArray("{\"messages\": ") + list + "}\n"; };
    QTest::newRow("malformed JSON") << good + "{\"prompt\": \"a\" \"completion\": \"b\"}\n"
                                    << 2 << QStringList{"not valid JSON"};
    QTest::newRow("invalid UTF-8") << QByteArray("{\"prompt\": \"\xff\", \"completion\": \"b\"}") << 1
                                   << QStringList{"not valid JSON"};
    QTest::newRow("not an object") << good + good + "[\"prompt\", \"completion\"]\n"
                                   << 3 << QStringList{"expected an object"};
    QTest::newRow("missing completion") << good + "\n{\"prompt\": \"a\"}\n"
                                        << 3 << QStringList{"field \"completion\" is missing"};
    QTest::newRow("prompt not a string") << QByteArray("{\"prompt\": 3, \"completion\": \"b\"}") << 1
                                         << QStringList{"field \"prompt\" must be a string", "found 3"};
    QTest::newRow("neither form") << good + "{\"text\": \"a\"}" << 2
                                  << QStringList{"expected fields \"prompt\" and \"completion\""};
    QTest::newRow("both forms") << QByteArray("{\"prompt\": \"a\", \"completion\": \"b\", \"messages\": []}")
                                << 1 << QStringList{"both \"messages\" and \"prompt\""};
    QTest::newRow("messages not a list")
        << good + messages("\"hi\"") << 2 << QStringList{"field \"messages\" must be a non-empty list"};
    QTest::newRow("messages empty") << messages("[]") << 1
                                    << QStringList{"field \"messages\" must be a non-empty list"};
    QTest::newRow("message not an object")
        << messages("[\"hi\"]") << 1 << QStringList{"field \"messages[0]\" must be an object"};
    QTest::newRow("role missing") << good + messages("[{\"content\": \"x\"}]") << 2
                                  << QStringList{"field \"messages[0].role\" is missing"};
    QTest::newRow("unknown role")
        << good + good + good +
               messages("[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"bot\", \"content\": \"y\"}]")
        << 4 << QStringList{"field \"messages[1].role\"", "unknown role \"bot\""};
    QTest::newRow("content not a string")
        << messages("[{\"role\": \"user\", \"content\": null}]") << 1
        << QStringList{"field \"messages[0].content\" must be a string", "found null"};
    QTest::newRow("reasoning not a string")
        << messages(
               "[{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\", "
               "\"reasoning_content\": 5}]")
        << 1 << QStringList{"field \"messages[1].reasoning_content\" must be a string"};
    QTest::newRow("no assistant message")
        << good + messages(
                      "[{\"role\": \"system\", \"content\": \"x\"}, {\"role\": \"user\", \"content\": "
                      "\"y\"}]")
        << 2 << QStringList{"field \"messages\" has no assistant message"};
    QTest::newRow("empty file") << QByteArray() << 0 << QStringList{"no examples", "the file is empty"};
    QTest::newRow("only a BOM and blank lines")
        << QByteArray("\xEF\xBB\xBF\n  \n\r\n") << 0 << QStringList{"no examples", "only blank lines"};
  }

  void errors_name_file_line_and_field() {
    QFETCH(QByteArray, text);
    QFETCH(int, line);
    QFETCH(QStringList, fragments);
    test::TempDir dir;
    const auto path = dir / "data.jsonl";
    test::write_bytes(path, text.toStdString());
    if (line > 0) fragments << QString("line %1:").arg(line);
    fragments << QString::fromStdString(path.string());
    std::string message;
    try {
      read_sft_jsonl(path);
    } catch (const Error& e) {
      message = e.what();
    }
    QVERIFY2(!message.empty(), "expected r1::Error");
    for (const QString& fragment : fragments)
      QVERIFY2(message.find(fragment.toStdString()) != std::string::npos,
               qPrintable(QString("message \"%1\" lacks \"%2\"").arg(message.c_str(), fragment)));
  }

  void missing_file_is_named() {
    test::TempDir dir;
    R1_EXPECT_ERROR(read_sft_jsonl(dir / "absent.jsonl"), "absent.jsonl", "cannot open");
  }

  void plain_example_trains_completion_and_eos() {
    const Tokenizer& tok = fixture_tokenizer();
    SftFormat format = SftFormat::from_model_dir(model_dir(), tok, false);
    QVERIFY(!format.chat);
    QCOMPARE(format.eos_id, id_of("<|im_end|>"));
    QCOMPARE(format.pad_id, id_of("<|endoftext|>"));
    SftExample e;
    e.prompt = "What is 2+2?";
    e.completion = " The answer is 4.";
    const TokenizedExample t = tokenize_sft_example(e, tok, format);
    std::vector<int32_t> expected = tok.encode(e.prompt);
    const std::vector<int32_t> completion = tok.encode(e.completion);
    expected.insert(expected.end(), completion.begin(), completion.end());
    expected.push_back(format.eos_id);
    QCOMPARE(t.ids, expected);
    QCOMPARE(t.mask.size(), t.ids.size());
    QCOMPARE(text_where(t, true), e.completion + "<|im_end|>");
    QCOMPARE(text_where(t, false), e.prompt);

    format.bos_id = id_of("<|im_start|>");
    const TokenizedExample with_bos = tokenize_sft_example(e, tok, format);
    QCOMPARE(with_bos.ids.size(), expected.size() + 1);
    QCOMPARE(with_bos.ids[0], *format.bos_id);
    QCOMPARE(int(with_bos.mask[0]), 0);
    QCOMPARE(text_where(with_bos, true), e.completion + "<|im_end|>");
  }

  void chat_template_trains_only_assistant_turns() {
    const Tokenizer& tok = fixture_tokenizer();
    const SftFormat format = SftFormat::from_model_dir(model_dir(), tok);
    QVERIFY2(format.chat.has_value(), "the fixture folder has a chat template, so it is the default");
    QCOMPARE(int(format.chat->family()), int(ChatFamily::ChatML));
    const SftExample e = chat_example({{"system", "Be brief.", ""},
                                       {"user", "What is 2+2?", ""},
                                       {"assistant", "4", ""},
                                       {"user", "And 3+3?", ""},
                                       {"assistant", "6, since 3+3=6.", ""}});
    const TokenizedExample t = tokenize_sft_example(e, tok, format);
    const std::string rendered = format.chat->render(e.messages, {.add_generation_prompt = false});
    QCOMPARE(t.ids, tok.encode(rendered));
    const auto spans = trained_spans(t);
    QCOMPARE(joined(spans), std::string("[4<|im_end|>][6, since 3+3=6.<|im_end|>]"));
    QCOMPARE(text_where(t, false),
             std::string("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                         "<|im_start|>assistant\n\n<|im_start|>user\nAnd 3+3?<|im_end|>\n"
                         "<|im_start|>assistant\n\n"));
  }

  void prompt_completion_becomes_a_chat_turn() {
    const Tokenizer& tok = fixture_tokenizer();
    const SftFormat format = SftFormat::from_model_dir(model_dir(), tok);
    SftExample e;
    e.prompt = "Name a colour.";
    e.completion = "Blue.";
    const TokenizedExample t = tokenize_sft_example(e, tok, format);
    QCOMPARE(joined(trained_spans(t)), std::string("[Blue.<|im_end|>]"));
    QCOMPARE(text_where(t, false),
             std::string("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n\n"));
  }

  void reasoning_is_trained_within_the_turn_data() {
    QTest::addColumn<int>("family");
    QTest::addColumn<QString>("reasoning");  // as reasoning_content
    QTest::addColumn<QString>("content");
    QTest::addColumn<QString>("trained");
    QTest::addColumn<QString>("prompt");
    const int deepseek = int(ChatFamily::DeepSeekR1), qwen3 = int(ChatFamily::Qwen3),
              llama3 = int(ChatFamily::Llama3);
    const QString ds_prompt = "<｜begin▁of▁sentence｜><｜User｜>Q<｜Assistant｜>";
    const QString eos = "<｜end▁of▁sentence｜>";
    // DeepSeek-R1's generation prompt opens the thought, so the model is trained from inside it.
    QTest::newRow("deepseek inline thought")
        << deepseek << ""
        << "<think>\nStep one.\n</think>\n\nA."
        << "[Step one.\n</think>\n\nA." + eos + "]" << ds_prompt + "<think>\n";
    QTest::newRow("deepseek reasoning_content")
        << deepseek << "Step one."
        << "A."
        << "[Step one.\n</think>\n\nA." + eos + "]" << ds_prompt + "<think>\n";
    QTest::newRow("deepseek without thought") << deepseek << ""
                                              << "A."
                                              << "[A." + eos + "]" << ds_prompt;
    // Qwen3 writes an empty think block into the last turn; the model produces it, so it is trained.
    QTest::newRow("qwen3 without thought") << qwen3 << ""
                                           << "A."
                                           << "[<think>\n\n</think>\n\nA.<|im_end|>]"
                                           << "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n\n";
    QTest::newRow("qwen3 reasoning_content") << qwen3 << "Step one."
                                             << "A."
                                             << "[<think>\nStep one.\n</think>\n\nA.<|im_end|>]"
                                             << "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n\n";
    QTest::newRow("llama3 trims the answer")
        << llama3 << ""
        << "  A.  "
        << "[A.<|eot_id|>]"
        << "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|><|start_header_id|>"
           "assistant<|end_header_id|>\n\n";
  }

  void reasoning_is_trained_within_the_turn() {
    QFETCH(int, family);
    QFETCH(QString, reasoning);
    QFETCH(QString, content);
    QFETCH(QString, trained);
    QFETCH(QString, prompt);
    const SftExample e =
        chat_example({{"user", "Q", ""}, {"assistant", content.toStdString(), reasoning.toStdString()}});
    const TokenizedExample t = tokenize_sft_example(e, fixture_tokenizer(), format_with(ChatFamily(family)));
    QCOMPARE(joined(trained_spans(t)), trained.toStdString());
    QCOMPARE(text_where(t, false), prompt.toStdString());
  }

  void qwen3_multi_turn_keeps_each_turn() {
    const SftExample e = chat_example(
        {{"user", "Q1", ""}, {"assistant", "A1", ""}, {"user", "Q2", ""}, {"assistant", "A2", "R2"}});
    const TokenizedExample t = tokenize_sft_example(e, fixture_tokenizer(), format_with(ChatFamily::Qwen3));
    QCOMPARE(joined(trained_spans(t)), std::string("[A1<|im_end|>][<think>\nR2\n</think>\n\nA2<|im_end|>]"));
  }

  void deepseek_multi_turn_keeps_each_thought() {
    // The generation prompt opens a thought; the second answer has none, so its turn starts before <think>.
    const SftExample e = chat_example(
        {{"user", "Q1", ""}, {"assistant", "A1", "R1"}, {"user", "Q2", ""}, {"assistant", "A2", ""}});
    const TokenizedExample t =
        tokenize_sft_example(e, fixture_tokenizer(), format_with(ChatFamily::DeepSeekR1));
    QCOMPARE(joined(trained_spans(t)),
             std::string("[R1\n</think>\n\nA1<｜end▁of▁sentence｜>][A2<｜end▁of▁sentence｜>]"));
    QCOMPARE(text_where(t, false),
             std::string(
                 "<｜begin▁of▁sentence｜><｜User｜>Q1<｜Assistant｜><think>\n<｜User｜>Q2<｜Assistant｜>"));
  }

  void unusable_conversations_are_refused() {
    const Tokenizer& tok = fixture_tokenizer();
    // Qwen3 shows the empty thought of the last turn only: rendered alone, the first answer differs from its
    // rendering inside the whole conversation.
    const SftExample two_answers =
        chat_example({{"user", "Q", ""}, {"assistant", "A1", ""}, {"assistant", "A2", ""}});
    R1_EXPECT_ERROR(tokenize_sft_example(two_answers, tok, format_with(ChatFamily::Qwen3), "d.jsonl"),
                    "d.jsonl: line 7", "messages[2]", "not prefix-stable");
    const SftExample marker = chat_example({{"user", "Q", ""}, {"assistant", "A<|im_end|>B", ""}});
    R1_EXPECT_ERROR(tokenize_sft_example(marker, tok, format_with(ChatFamily::ChatML)), "line 7",
                    "field \"messages[1]\"", "end-of-turn marker");
    SftFormat plain = format_with(ChatFamily::ChatML);
    plain.chat.reset();
    R1_EXPECT_ERROR(tokenize_sft_example(marker, tok, plain), "line 7", "needs a chat template");
    plain.eos_id = -1;
    SftExample pc;
    pc.line = 3;
    pc.prompt = "a";
    pc.completion = "b";
    R1_EXPECT_ERROR(tokenize_sft_example(pc, tok, plain), "line 3", "no EOS token");
  }

  void format_follows_the_model_folder() {
    const Tokenizer& tok = fixture_tokenizer();
    test::TempDir dir;
    test::copy_dir(model_dir(), dir.path());
    json config = json::parse(test::read_bytes(dir / "tokenizer_config.json"));
    config.erase("chat_template");
    config.erase("eos_token");
    config["pad_token"] = "<|im_start|>";
    test::write_bytes(dir / "tokenizer_config.json", config.dump());
    const SftFormat plain = SftFormat::from_model_dir(dir.path(), tok);
    QVERIFY2(!plain.chat, "no template in the folder: plain by default");
    QCOMPARE(plain.eos_id, 2);  // config.json's eos_token_id
    QCOMPARE(plain.pad_id, id_of("<|im_start|>"));
    QVERIFY(!plain.bos_id);
    QVERIFY(SftFormat::from_model_dir(dir.path(), tok, true).chat.has_value());

    config["add_bos_token"] = true;
    config["bos_token"] = {{"content", "<|endoftext|>"}};
    test::write_bytes(dir / "tokenizer_config.json", config.dump());
    QCOMPARE(SftFormat::from_model_dir(dir.path(), tok).bos_id,
             std::optional<int32_t>(id_of("<|endoftext|>")));

    config["eos_token"] = "<|nope|>";
    test::write_bytes(dir / "tokenizer_config.json", config.dump());
    R1_EXPECT_ERROR(SftFormat::from_model_dir(dir.path(), tok), "tokenizer_config.json",
                    "field \"eos_token\"", "not in the tokenizer's vocabulary");
  }

  void batches_truncate_pad_and_shift_targets() {
    // Example 1 is longer than L; example 2 trains only tokens beyond L, so it keeps no trained target.
    const std::vector<TokenizedExample> examples = {
        {{1000, 11, 12, 13, 14}, {0, 0, 1, 1, 1}},
        {{1001, 21, 22, 23, 24, 25, 26, 27}, {0, 0, 0, 0, 1, 1, 1, 1}},
        {{1002, 41, 42, 43, 44, 45, 46, 47}, {0, 0, 0, 0, 0, 0, 1, 1}},
    };
    SftBatcher batcher(examples, {.batch_size = 3, .seq_len = 6, .shuffle = false, .pad_id = 99});
    const TrainBatch b = batcher.next();
    QCOMPARE(b.B, int64_t(3));
    QCOMPARE(b.L, int64_t(6));
    QCOMPARE(b.ids, (std::vector<int32_t>{1000, 11, 12, 13, 14, 99,  //
                                          1001, 21, 22, 23, 24, 25,  //
                                          1002, 41, 42, 43, 44, 45}));
    QCOMPARE(b.targets, (std::vector<int32_t>{11, 12, 13, 14, 0, 0,   //
                                              21, 22, 23, 24, 25, 0,  //
                                              41, 42, 43, 44, 45, 0}));
    QCOMPARE(b.weights, (std::vector<float>{0, 1, 1, 1, 0, 0,  //
                                            0, 0, 0, 1, 1, 0,  //
                                            0, 0, 0, 0, 0, 0}));
    const SftStats& s = batcher.stats();
    QCOMPARE(s.examples, int64_t(3));
    QCOMPARE(s.truncated, int64_t(2));
    QCOMPARE(s.untrained, int64_t(1));
    QCOMPARE(s.longest, int64_t(8));
    QCOMPARE(s.tokens, int64_t(17));
    QCOMPARE(s.trained_tokens, int64_t(5));
    QCOMPARE(b.weight_sum(), 5.0);

    R1_EXPECT_ERROR(SftBatcher(examples, {.batch_size = 2, .seq_len = 1}), "sequence length");
    R1_EXPECT_ERROR(SftBatcher({}, {.batch_size = 2, .seq_len = 8}), "no examples");
    R1_EXPECT_ERROR(SftBatcher({{{1, 2}, {0}}}, {.batch_size = 2, .seq_len = 8}), "example 0", "mask");
  }

  void shuffling_is_deterministic_per_seed_and_epoch() {
    const auto examples = numbered_examples(10);
    SftBatcher a(examples, {.batch_size = 4, .seq_len = 8, .seed = 7});
    SftBatcher b(examples, {.batch_size = 4, .seq_len = 8, .seed = 7});
    const auto order = order_of(a, 10, 3);
    QCOMPARE(order_of(b, 10, 3), order);
    std::vector<int64_t> identity(10);
    std::iota(identity.begin(), identity.end(), 0);
    std::vector<std::vector<int64_t>> epochs;
    for (int e = 0; e < 3; ++e) {
      std::vector<int64_t> epoch(order.begin() + 10 * e, order.begin() + 10 * (e + 1));
      epochs.push_back(epoch);
      std::sort(epoch.begin(), epoch.end());
      QCOMPARE(epoch, identity);  // every example once per epoch
    }
    QVERIFY(epochs[0] != identity);
    QVERIFY(epochs[0] != epochs[1]);
    QVERIFY(epochs[1] != epochs[2]);

    SftBatcher other_seed(examples, {.batch_size = 4, .seq_len = 8, .seed = 8});
    QVERIFY(order_of(other_seed, 10, 1) != epochs[0]);
    SftBatcher in_order(examples, {.batch_size = 4, .seq_len = 8, .seed = 7, .shuffle = false});
    const auto plain = order_of(in_order, 10, 2);
    QCOMPARE(std::vector<int64_t>(plain.begin(), plain.begin() + 10), identity);
    QCOMPARE(std::vector<int64_t>(plain.begin() + 10, plain.end()), identity);
    QCOMPARE(in_order.batches_per_epoch(), int64_t(3));
  }

  void restored_cursor_resumes_exactly() {
    const auto examples = numbered_examples(7);
    const SftBatchOptions options{.batch_size = 3, .seq_len = 6, .seed = 42};
    SftBatcher a(examples, options);
    for (int i = 0; i < 4; ++i) a.next();  // 12 examples: into the second epoch
    const SftCursor saved = a.cursor();
    QCOMPARE(saved.epoch, int64_t(1));
    QCOMPARE(saved.position, int64_t(5));
    const SftCursor loaded = SftCursor::from_json(json::parse(saved.to_json().dump()), "state.json");
    QVERIFY(loaded == saved);

    SftBatcher fresh(examples, options);
    SftBatcher resumed(examples, options);
    resumed.restore(loaded);
    QCOMPARE(resumed.cursor(), saved);
    bool fresh_differs = false;
    for (int i = 0; i < 6; ++i) {  // across two more epoch boundaries
      const TrainBatch expected = a.next();
      QVERIFY2(same_batch(resumed.next(), expected), qPrintable(QString("batch %1 after resuming").arg(i)));
      fresh_differs = fresh_differs || !same_batch(fresh.next(), expected);
    }
    QVERIFY2(fresh_differs, "a batcher that was not restored starts elsewhere");
    QCOMPARE(resumed.cursor(), a.cursor());
  }

  void bad_cursors_are_refused() {
    const auto examples = numbered_examples(7);
    SftBatcher batcher(examples, {.batch_size = 3, .seq_len = 6, .seed = 42});
    SftCursor other_seed = batcher.cursor();
    other_seed.seed = 43;
    R1_EXPECT_ERROR(batcher.restore(other_seed), "seed 43", "seed is 42");
    SftCursor other_data = batcher.cursor();
    other_data.examples = 8;
    R1_EXPECT_ERROR(batcher.restore(other_data), "8 examples", "has 7");

    json j = batcher.cursor().to_json();
    j.erase("position");
    R1_EXPECT_ERROR(SftCursor::from_json(j, "state.json"), "state.json", "field \"position\" is missing");
    j = batcher.cursor().to_json();
    j["epoch"] = -1;
    R1_EXPECT_ERROR(SftCursor::from_json(j, "state.json"), "field \"epoch\"");
    j = batcher.cursor().to_json();
    j["position"] = 7;
    R1_EXPECT_ERROR(SftCursor::from_json(j, "state.json"), "field \"position\"", "below");
    j = batcher.cursor().to_json();
    j["seed"] = "x";
    R1_EXPECT_ERROR(SftCursor::from_json(j, "state.json"), "field \"seed\"");
  }

  void file_to_batches() {
    test::TempDir dir;
    const auto path = dir / "mixed.jsonl";
    test::write_bytes(
        path,
        "{\"prompt\": \"Say hi.\", \"completion\": \"Hi!\"}\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", "
        "\"content\": \"4\"}]}\n"
        "{\"prompt\": \"Count to three.\", \"completion\": \"1, 2, 3.\"}\n");
    const Tokenizer& tok = fixture_tokenizer();
    const SftDataset data = read_sft_jsonl(path);
    const SftFormat chat = SftFormat::from_model_dir(model_dir(), tok);
    const auto examples = tokenize_sft(data, tok, chat);
    QCOMPARE(examples.size(), size_t(3));
    SftBatcher batcher(examples, {.batch_size = 3, .seq_len = 64, .seed = 1, .pad_id = chat.pad_id});
    QCOMPARE(batcher.stats().truncated, int64_t(0));
    int64_t trained = 0;
    for (const auto& e : examples) trained += std::count(e.mask.begin() + 1, e.mask.end(), 1);
    QCOMPARE(batcher.stats().trained_tokens, trained);
    QCOMPARE(batcher.next().weight_sum(), double(trained));  // one batch is one epoch

    const SftFormat plain = SftFormat::from_model_dir(model_dir(), tok, false);
    const std::string file = path.string();
    R1_EXPECT_ERROR(tokenize_sft(data, tok, plain), file.c_str(), "line 2", "needs a chat template");
  }
};

QTEST_APPLESS_MAIN(TestSftData)
#include "tst_sft_data.moc"
