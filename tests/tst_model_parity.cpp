// Our CPU engine against transformers on the fixture models (tests/fixtures/make_model_fixtures.py):
// prompt logits within 1e-3 and the 32-token greedy continuation exactly, through the KV-cache decode path.
#include <nlohmann/json.hpp>

#include "engine/core/files.h"
#include "engine/io/npy.h"
#include "engine/model/rope.h"
#include "engine/runtime/generator.h"
#include "testlib/test_support.h"

using namespace r1;

class TestModelParity : public QObject {
  Q_OBJECT

 private:
  static void models_data() {
    QTest::addColumn<QString>("name");
    for (const char* n : {"llama-llama3rope", "llama-bias-tied-f16", "qwen2-tied",
                          "qwen2-untied-bf16-sharded", "qwen2-yarn", "qwen3-qknorm"})
      QTest::newRow(n) << n;
  }

  static nlohmann::json expected(const std::filesystem::path& dir) {
    return nlohmann::json::parse(read_text_file(dir / "expected.json"));
  }

 private slots:
  void logits_match_transformers_data() { models_data(); }
  void logits_match_transformers() {
    QFETCH(QString, name);
    const auto dir = test::fixtures() / "models" / name.toStdString();
    const auto model = load_model(dir);
    const auto prompt = read_npy(dir / "prompt.npy").to_i64();
    const auto ref = read_npy(dir / "logits.npy");
    const int64_t V = model->config.vocab_size;
    QCOMPARE(ref.shape, (Shape{int64_t(prompt.size()), V}));
    std::vector<int32_t> ids(prompt.begin(), prompt.end());
    RuntimeOptions o;
    o.max_context = 64;
    const auto rt = create_runtime(model, o);
    std::vector<float> logits(ids.size() * size_t(V));
    const SequenceInput in{0, ids, true};
    rt->forward({&in, 1}, logits.data());
    double max_diff = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double d = std::abs(double(logits[i]) - ref.f32()[i]);
      QVERIFY2(d == d, qPrintable(QString("logit %1 is NaN").arg(i)));
      max_diff = std::max(max_diff, d);
    }
    QVERIFY2(max_diff <= 1e-3, qPrintable(QString("max abs logit difference %1").arg(max_diff)));
  }

  void greedy_continuation_matches_data() { models_data(); }
  void greedy_continuation_matches() {
    QFETCH(QString, name);
    const auto dir = test::fixtures() / "models" / name.toStdString();
    const auto model = load_model(dir);
    const auto exp = expected(dir);
    const std::vector<int32_t> prompt = exp["prompt"].get<std::vector<int32_t>>();
    const std::vector<int32_t> want = exp["greedy"].get<std::vector<int32_t>>();
    RuntimeOptions o;
    o.max_context = 64;
    const auto rt = create_runtime(model, o);
    Generator gen(*rt);
    GenerateOptions go;
    go.max_new_tokens = int64_t(want.size());
    const auto res = gen.generate(prompt, go, SamplingParams::greedy());
    QCOMPARE(res.tokens, want);
    QCOMPARE(res.reason, StopReason::MaxTokens);
  }

  void rope_frequencies_match_data() { models_data(); }
  void rope_frequencies_match() {
    QFETCH(QString, name);
    const auto dir = test::fixtures() / "models" / name.toStdString();
    const auto exp = expected(dir);
    const auto tables = rope_frequencies(load_hf_config(dir));
    const auto want = exp["inv_freq"].get<std::vector<double>>();
    QCOMPARE(tables.inv_freq.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      QVERIFY2(
          std::abs(tables.inv_freq[i] - want[i]) <= 1e-6 * std::abs(want[i]) + 1e-12,
          qPrintable(
              QString("inv_freq[%1] = %2, transformers %3").arg(i).arg(tables.inv_freq[i]).arg(want[i])));
    QVERIFY(std::abs(tables.attention_factor - exp["attention_scaling"].get<double>()) < 1e-6);
  }
};

QTEST_APPLESS_MAIN(TestModelParity)
#include "tst_model_parity.moc"
