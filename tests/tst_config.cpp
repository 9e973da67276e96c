// config.json parsing: both RoPE spellings, defaults per architecture, and clear errors for bad files.
#include "engine/core/error.h"
#include "engine/model/config.h"
#include "engine/model/rope.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

std::string llama(const std::string& extra) {
  return R"({"architectures":["LlamaForCausalLM"],"vocab_size":100,"hidden_size":64,"intermediate_size":128,)"
         R"("num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":512)" +
         extra + "}";
}

}  // namespace

class TestConfig : public QObject {
  Q_OBJECT

 private slots:
  void defaults() {
    const auto c = parse_hf_config(llama(""), "config.json");
    QCOMPARE(c.arch, Arch::Llama);
    QCOMPARE(c.head_dim, int64_t(16));
    QCOMPARE(c.rope.type, RopeType::Default);
    QCOMPARE(c.rope.theta, 10000.0);
    QVERIFY(!c.qkv_bias);
    QVERIFY(!c.tie_word_embeddings);
  }

  void qwen_families() {
    const auto q2 = parse_hf_config(
        R"({"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,)"
        R"("num_attention_heads":2,"tie_word_embeddings":true,"eos_token_id":[5,7]})",
        "config.json");
    QCOMPARE(q2.arch, Arch::Qwen2);
    QVERIFY(q2.qkv_bias && !q2.o_bias && q2.tie_word_embeddings);
    QCOMPARE(q2.eos_token_ids, (std::vector<int64_t>{5, 7}));
    const auto q3 = parse_hf_config(
        R"({"architectures":["Qwen3ForCausalLM"],"vocab_size":10,"hidden_size":8,"intermediate_size":8,)"
        R"("num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32})",
        "config.json");
    QVERIFY(q3.qk_norm && !q3.qkv_bias);
    QCOMPARE(q3.head_dim, int64_t(32));
  }

  void rope_scaling_old_and_new_spellings_agree() {
    const auto old_style = parse_hf_config(
        llama(R"(,"rope_theta":500000.0,"rope_scaling":{"type":"llama3","factor":8.0,"low_freq_factor":1.0,)"
              R"("high_freq_factor":4.0,"original_max_position_embeddings":64})"),
        "old.json");
    const auto new_style = parse_hf_config(
        llama(R"(,"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,)"
              R"("low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64})"),
        "new.json");
    QCOMPARE(old_style.rope.type, RopeType::Llama3);
    QCOMPARE(new_style.rope.type, RopeType::Llama3);
    QCOMPARE(old_style.rope.theta, 500000.0);
    QCOMPARE(rope_frequencies(old_style).inv_freq, rope_frequencies(new_style).inv_freq);
    // llama3 scaling leaves the highest frequencies alone and divides the lowest by the factor.
    const auto plain = rope_frequencies(parse_hf_config(llama(R"(,"rope_theta":500000.0)"), "c.json"));
    const auto scaled = rope_frequencies(old_style);
    QCOMPARE(scaled.inv_freq.front(), plain.inv_freq.front());
    QVERIFY(std::abs(scaled.inv_freq.back() - plain.inv_freq.back() / 8) < 1e-12);
  }

  void errors_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("malformed") << "{\"vocab_size\": 3,"
                               << "not valid JSON";
    QTest::newRow("array") << "[]"
                           << "not a JSON object";
    QTest::newRow("unknown arch") << R"({"architectures":["MambaForCausalLM"],"vocab_size":1})"
                                  << "\"MambaForCausalLM\" is not supported; supported: LlamaForCausalLM, "
                                     "Qwen2ForCausalLM, Qwen3ForCausalLM";
    QTest::newRow("no arch") << R"({"vocab_size":1})"
                             << "neither \"architectures\"";
    QTest::newRow("missing field")
        << R"({"architectures":["LlamaForCausalLM"],"vocab_size":100,"hidden_size":64})"
        << "\"intermediate_size\" is missing";
    QTest::newRow("wrong type") << QString::fromStdString(llama(R"(,"rms_norm_eps":"small")"))
                                << "\"rms_norm_eps\" must be a number";
    QTest::newRow("kv heads") << QString::fromStdString(
                                     llama("").replace(llama("").find("\"num_key_value_heads\":2"), 23,
                                                       "\"num_key_value_heads\":3"))
                              << "\"num_key_value_heads\" (3) must divide";
    QTest::newRow("rope type") << QString::fromStdString(
                                      llama(R"(,"rope_scaling":{"type":"longrope","factor":2})"))
                               << "\"longrope\" is not supported";
    QTest::newRow("llama3 without original")
        << QString::fromStdString(llama(R"(,"rope_scaling":{"type":"llama3","factor":2})"))
        << "original_max_position_embeddings";
    QTest::newRow("activation") << QString::fromStdString(llama(R"(,"hidden_act":"gelu")"))
                                << "\"gelu\" is not supported";
    QTest::newRow("negative") << QString::fromStdString(llama(R"(,"vocab_size":-3)"))
                              << "\"vocab_size\" must be at least 1";
    QTest::newRow("sliding window")
        << R"({"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"use_sliding_window":true})"
        << "sliding-window";
  }
  void errors() {
    QFETCH(QString, text);
    QFETCH(QString, fragment);
    const std::string frag = fragment.toStdString();
    R1_EXPECT_ERROR(parse_hf_config(text.toStdString(), "/m/config.json"), "/m/config.json", frag.c_str());
  }
};

QTEST_APPLESS_MAIN(TestConfig)
#include "tst_config.moc"
