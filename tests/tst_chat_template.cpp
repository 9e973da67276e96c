// Chat templates. Built twice (tests/tokenizer_tests.cmake): with R1WB_PARITY_SUITE=1 it runs
// TestChatTemplateParity, which compares our renderings with the real Jinja templates (Qwen3, Qwen2.5, Llama
// 3, DeepSeek-R1 distill, DeepSeek-V3) rendered by @huggingface/jinja
// (tests/fixtures/tokenizer/chat_renderings.json); otherwise TestChatTemplate, the unit cases (detection,
// fallback warning, reasoning options, model folders).
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "testlib/test_support.h"

using namespace r1;
using json = nlohmann::json;

namespace {

// Where each family's tokenizer_config.json lives: fetched data, or the committed DeepSeek-R1 distill one.
std::filesystem::path config_dir(const std::string& family) {
  if (family == "deepseek_r1_distill") return test::fixtures() / "tokenizer" / family;
  const auto dir = test::downloaded() / family;
  if (!std::filesystem::exists(dir / "tokenizer_config.json"))
    throw Error((dir / "tokenizer_config.json").string() + " is missing: run tools/fetch_test_data.sh");
  return dir;
}

std::vector<ChatMessage> messages_of(const json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list)
    out.push_back(
        {m["role"].get<std::string>(), m["content"].get<std::string>(), m.value("reasoning_content", "")});
  return out;
}

std::vector<ChatMessage> sample_conversation() {
  return {{"system", "Be brief.", ""},
          {"user", "What is 2+2?", ""},
          {"assistant", "4", "Two and two make four."},
          {"user", "And 3+3?", ""}};
}

#define OR_FAIL(statement)                  \
  try {                                     \
    statement;                              \
  } catch (const std::exception& or_fail) { \
    QFAIL(or_fail.what());                  \
  }

}  // namespace

class TestChatTemplateParity : public QObject {
  Q_OBJECT

 private slots:
  void matches_the_jinja_templates_data() {
    QTest::addColumn<QString>("family");
    QTest::addColumn<int>("expected_family");
    QTest::addColumn<bool>("opens_thinking");
    QTest::newRow("qwen3") << "qwen3" << int(ChatFamily::Qwen3) << false;
    QTest::newRow("qwen2_5") << "qwen2_5" << int(ChatFamily::Qwen25) << false;
    QTest::newRow("llama3") << "llama3" << int(ChatFamily::Llama3) << false;
    QTest::newRow("deepseek_r1_distill") << "deepseek_r1_distill" << int(ChatFamily::DeepSeekR1) << true;
    QTest::newRow("deepseek_v3") << "deepseek_v3" << int(ChatFamily::DeepSeekR1) << false;
  }

  void matches_the_jinja_templates() {
    QFETCH(QString, family);
    QFETCH(int, expected_family);
    QFETCH(bool, opens_thinking);
    const json doc = json::parse(read_text_file(test::fixtures() / "tokenizer" / "chat_renderings.json"));
    std::map<std::string, std::vector<ChatMessage>> conversations;
    for (const auto& c : doc["conversations"]) conversations[c["name"]] = messages_of(c["messages"]);
    ChatTemplate tpl;
    OR_FAIL(tpl = ChatTemplate::from_model_dir(config_dir(family.toStdString())));
    QCOMPARE(int(tpl.family()), expected_family);
    QCOMPARE(tpl.generation_opens_thinking(), opens_thinking);
    QCOMPARE(tpl.warning(), std::string());
    int matched = 0, total = 0;
    for (const auto& r : doc["renderings"]) {
      if (r["family"] != family.toStdString()) continue;
      ++total;
      ChatOptions options;
      options.add_generation_prompt = r["add_generation_prompt"];
      options.enable_thinking = r.value("enable_thinking", true);
      const std::string ours = tpl.render(conversations.at(r["conversation"]), options);
      const std::string want = r["text"];
      if (ours == want) {
        ++matched;
        continue;
      }
      QFAIL(qPrintable(
          QString("%1 (generation prompt %2): ours\n%3\nJinja\n%4")
              .arg(QString::fromStdString(r["conversation"]))
              .arg(options.add_generation_prompt)
              .arg(QString::fromStdString(json(ours).dump()), QString::fromStdString(json(want).dump()))));
    }
    qInfo("%s: %d/%d renderings match the Jinja template", qPrintable(family), matched, total);
    QVERIFY(total >= 6);
  }
};

class TestChatTemplate : public QObject {
  Q_OBJECT

 private slots:
  void detects_the_family_data() {
    QTest::addColumn<QString>("template_text");
    QTest::addColumn<QString>("architecture");
    QTest::addColumn<int>("family");
    QTest::addColumn<bool>("warned");
    QTest::newRow("plain chatml") << "{{'<|im_start|>' + m.role}}"
                                  << "" << int(ChatFamily::ChatML) << false;
    QTest::newRow("qwen3 markers") << "<|im_start|>{% if reasoning_content %}"
                                   << "" << int(ChatFamily::Qwen3) << false;
    QTest::newRow("qwen2.5 default system")
        << "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        << "" << int(ChatFamily::Qwen25) << false;
    QTest::newRow("deepseek") << "{{'<｜User｜>' + content}}"
                              << "Qwen2ForCausalLM" << int(ChatFamily::DeepSeekR1) << false;
    QTest::newRow("llama3") << "<|start_header_id|>"
                            << "" << int(ChatFamily::Llama3) << false;
    QTest::newRow("arch qwen3") << ""
                                << "Qwen3ForCausalLM" << int(ChatFamily::Qwen3) << false;
    QTest::newRow("arch qwen2") << ""
                                << "Qwen2ForCausalLM" << int(ChatFamily::Qwen25) << false;
    QTest::newRow("arch llama") << ""
                                << "LlamaForCausalLM" << int(ChatFamily::Llama3) << false;
    QTest::newRow("arch deepseek") << ""
                                   << "DeepseekV3ForCausalLM" << int(ChatFamily::DeepSeekR1) << false;
    QTest::newRow("unknown template") << "[INST] {{ m }} [/INST]"
                                      << "MistralForCausalLM" << int(ChatFamily::ChatML) << true;
    QTest::newRow("nothing known") << ""
                                   << "GPT2LMHeadModel" << int(ChatFamily::ChatML) << true;
  }

  void detects_the_family() {
    QFETCH(QString, template_text);
    QFETCH(QString, architecture);
    QFETCH(int, family);
    QFETCH(bool, warned);
    const ChatTemplate t = ChatTemplate::detect(template_text.toStdString(), architecture.toStdString());
    QCOMPARE(int(t.family()), family);
    QCOMPARE(!t.warning().empty(), warned);
  }

  // The fallback still renders a usable ChatML prompt, and says why.
  void unknown_template_falls_back_to_chatml_with_a_warning() {
    const ChatTemplate t = ChatTemplate::detect("[INST] {{ m }} [/INST]");
    QVERIFY(t.warning().find("not recognised") != std::string::npos);
    QVERIFY(t.warning().find("ChatML") != std::string::npos);
    const std::vector<ChatMessage> msgs = {{"user", "Hi", ""}};
    QCOMPARE(t.render(msgs), std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
  }

  void past_reasoning_is_dropped_unless_kept_data() {
    QTest::addColumn<int>("family");
    for (const ChatFamily f : {ChatFamily::ChatML, ChatFamily::Qwen25, ChatFamily::Qwen3,
                               ChatFamily::DeepSeekR1, ChatFamily::Llama3})
      QTest::newRow(std::string(chat_family_name(f)).c_str()) << int(f);
  }

  void past_reasoning_is_dropped_unless_kept() {
    QFETCH(int, family);
    const ChatTemplate t{ChatFamily(family)};
    const auto msgs = sample_conversation();
    QVERIFY(t.render(msgs).find("Two and two") == std::string::npos);
    ChatOptions keep;
    keep.keep_past_reasoning = true;
    const std::string kept = t.render(msgs, keep);
    QVERIFY2(kept.find("<think>\nTwo and two make four.\n</think>\n\n4") != std::string::npos, kept.c_str());
  }

  void deepseek_r1_prompt_opens_the_thought() {
    const ChatTemplate t{ChatFamily::DeepSeekR1};
    QVERIFY(t.generation_opens_thinking());
    QCOMPARE(t.end_of_turn(), std::string("<｜end▁of▁sentence｜>"));
    QCOMPARE(t.render(sample_conversation()),
             std::string(
                 "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2+2?<｜Assistant｜>4<｜end▁of▁sentence｜>"
                 "<｜User｜>And 3+3?<｜Assistant｜><think>\n"));
    // An answer that still carries its thought keeps only what follows </think>, as the template does.
    const std::vector<ChatMessage> raw = {{"user", "q", ""}, {"assistant", "<think>\nr\n</think>\n\nA", ""}};
    ChatOptions no_prompt;
    no_prompt.add_generation_prompt = false;
    QCOMPARE(t.render(raw, no_prompt),
             std::string("<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>\n\nA<｜end▁of▁sentence｜>"));
  }

  void qwq_style_prompt_opens_the_thought() {
    const ChatTemplate t = ChatTemplate::detect(
        "{{- '<|im_start|>' + message.role }}{%- if add_generation_prompt %}{{- "
        "'<|im_start|>assistant\\n<think>\\n' "
        "}}{%- endif %}");
    QCOMPARE(t.family(), ChatFamily::Qwen3);
    QVERIFY(t.generation_opens_thinking());
    const std::vector<ChatMessage> msgs = {{"user", "Hi", ""}};
    QCOMPARE(t.render(msgs), std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n"));
  }

  void qwen3_thinking_switch_and_turn_end() {
    const ChatTemplate t{ChatFamily::Qwen3};
    QVERIFY(!t.generation_opens_thinking());
    QCOMPARE(t.end_of_turn(), std::string("<|im_end|>"));
    const std::vector<ChatMessage> msgs = {{"user", "Hi", ""}};
    ChatOptions off;
    off.enable_thinking = false;
    QCOMPARE(t.render(msgs, off),
             std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  }

  void llama3_trims_content() {
    const ChatTemplate t{ChatFamily::Llama3};
    QCOMPARE(t.end_of_turn(), std::string("<|eot_id|>"));
    const std::vector<ChatMessage> msgs = {{"user", "  \n Hi there \t\n", ""}};
    QCOMPARE(t.render(msgs),
             std::string("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there"
                         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
  }

  void model_folder_template_and_errors() {
    test::TempDir tmp;
    test::write_bytes(tmp / "config.json", "{\"architectures\": [\"Qwen3ForCausalLM\"]}");
    QCOMPARE(ChatTemplate::from_model_dir(tmp.path()).family(), ChatFamily::Qwen3);  // architecture only
    test::write_bytes(
        tmp / "tokenizer_config.json",
        "{\"chat_template\": \"{{'<｜User｜>'}}{{'<｜Assistant｜><think>'}}\", \"bos_token\": \"<s>\"}");
    const ChatTemplate ds = ChatTemplate::from_model_dir(tmp.path());
    QCOMPARE(ds.family(), ChatFamily::DeepSeekR1);
    QCOMPARE(ds.bos(), std::string("<s>"));
    test::write_bytes(tmp / "chat_template.jinja", "<|start_header_id|>{{ role }}");  // takes precedence
    QCOMPARE(ChatTemplate::from_model_dir(tmp.path()).family(), ChatFamily::Llama3);
    test::write_bytes(tmp / "tokenizer_config.json", "{\"chat_template\": ");
    R1_EXPECT_ERROR(ChatTemplate::from_model_dir(tmp.path()), "tokenizer_config.json", "not valid JSON");
    test::write_bytes(tmp / "tokenizer_config.json", "{\"chat_template\": 5}");
    R1_EXPECT_ERROR(ChatTemplate::from_model_dir(tmp.path()), "tokenizer_config.json", "\"chat_template\"");
  }

  // A rendered prompt tokenizes with its markers as single special tokens.
  void rendered_prompt_encodes_markers_as_special_tokens() {
    std::shared_ptr<const Tokenizer> tok;
    OR_FAIL(tok = Tokenizer::load(config_dir("qwen3")));
    const std::string prompt = ChatTemplate(ChatFamily::Qwen3).render(sample_conversation());
    const auto ids = tok->encode(prompt);
    QCOMPARE(ids.front(), *tok->token_id("<|im_start|>"));
    QCOMPARE(std::count(ids.begin(), ids.end(), *tok->token_id("<|im_end|>")), 4l);
    QCOMPARE(tok->decode(ids), prompt);
  }
};

#if R1WB_PARITY_SUITE
QTEST_APPLESS_MAIN(TestChatTemplateParity)
#else
QTEST_APPLESS_MAIN(TestChatTemplate)
#endif

#include "tst_chat_template.moc"
