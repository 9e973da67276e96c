// Sampling: greedy, seeds, top-k / top-p / min-p filtering, repetition penalty, and the sampled
// distribution itself.
#include <cmath>
#include <map>

#include "engine/core/error.h"
#include "engine/runtime/sampler.h"
#include "testlib/test_support.h"

using namespace r1;

class TestSampler : public QObject {
  Q_OBJECT

  // Logits whose softmax is {0.5, 0.25, 0.125, 0.0625, 0.0625} at temperature 1, in shuffled order.
  static std::vector<float> logits() {
    return {std::log(0.125f), std::log(0.5f), std::log(0.0625f), std::log(0.25f), std::log(0.0625f)};
  }

  static std::map<int, int> histogram(const SamplingParams& p, int n, std::vector<float> base = logits()) {
    Sampler s(p, int64_t(base.size()));
    std::map<int, int> h;
    for (int i = 0; i < n; ++i) {
      auto l = base;
      h[s.sample(l.data(), {}, uint64_t(i))]++;
    }
    return h;
  }

 private slots:
  void greedy_is_argmax() {
    Sampler s(SamplingParams::greedy(), 5);
    auto l = logits();
    QCOMPARE(s.sample(l.data(), {}, 0), 1);
  }

  void same_seed_same_tokens() {
    SamplingParams p;
    p.seed = 42;
    const auto a = histogram(p, 200), b = histogram(p, 200);
    QCOMPARE(a, b);
    p.seed = 43;
    Sampler s1({1.0f, 0, 1.0f, 0.0f, 1.0f, 42}, 5), s2({1.0f, 0, 1.0f, 0.0f, 1.0f, 43}, 5);
    std::vector<int> seq1, seq2;
    for (int i = 0; i < 64; ++i) {
      auto l1 = logits(), l2 = logits();
      seq1.push_back(s1.sample(l1.data(), {}, uint64_t(i)));
      seq2.push_back(s2.sample(l2.data(), {}, uint64_t(i)));
    }
    QVERIFY(seq1 != seq2);
  }

  void distribution_follows_softmax() {
    SamplingParams p;
    p.seed = 7;
    const int n = 40000;
    const auto h = histogram(p, n);
    const std::map<int, double> want = {{1, 0.5}, {3, 0.25}, {0, 0.125}, {2, 0.0625}, {4, 0.0625}};
    for (const auto& [id, prob] : want) {
      const double got = double(h.count(id) ? h.at(id) : 0) / n;
      const double sigma = std::sqrt(prob * (1 - prob) / n);
      QVERIFY2(std::abs(got - prob) < 5 * sigma,
               qPrintable(QString("token %1: %2 vs %3").arg(id).arg(got).arg(prob)));
    }
  }

  void temperature_sharpens() {
    SamplingParams p;
    p.seed = 1;
    p.temperature = 0.25f;  // probabilities ~ p^4: token 1 gets 0.5^4 / sum ~ 0.94
    const auto h = histogram(p, 5000);
    QVERIFY(h.at(1) > 4500);
  }

  void top_k_keeps_the_k_best() {
    SamplingParams p;
    p.seed = 3;
    p.top_k = 2;
    const auto h = histogram(p, 3000);
    QCOMPARE(h.size(), size_t(2));
    QVERIFY(h.count(1) && h.count(3));
  }

  void top_p_keeps_the_smallest_set_reaching_p() {
    SamplingParams p;
    p.seed = 3;
    p.top_p = 0.7f;  // 0.5 + 0.25 reaches 0.7
    const auto h = histogram(p, 3000);
    QCOMPARE(h.size(), size_t(2));
    QVERIFY(h.count(1) && h.count(3));
    p.top_p = 0.4f;  // the top token alone
    QCOMPARE(histogram(p, 500).size(), size_t(1));
  }

  void top_p_on_a_large_vocabulary() {
    // 10 000 tokens: 300 strong ones share 90% of the mass; top_p 0.85 must stay inside them.
    std::vector<float> l(10000, 0.0f);
    for (int i = 0; i < 300; ++i) l[size_t(i * 33)] = std::log(0.9f / 300.0f * 9700.0f / 0.1f);
    SamplingParams p;
    p.seed = 11;
    p.top_p = 0.85f;
    const auto h = histogram(p, 3000, l);
    for (const auto& [id, n] : h) QVERIFY2(id % 33 == 0 && id < 9900, qPrintable(QString::number(id)));
    QVERIFY(h.size() > 200);
  }

  void min_p_drops_unlikely_tokens() {
    SamplingParams p;
    p.seed = 5;
    p.min_p = 0.3f;  // keeps tokens with prob >= 0.3 * 0.5
    const auto h = histogram(p, 3000);
    QCOMPARE(h.size(), size_t(2));
  }

  void repetition_penalty_discourages_history() {
    SamplingParams p = SamplingParams::greedy();
    p.repetition_penalty = 3.0f;
    Sampler s(p, 5);
    auto l = logits();
    const std::vector<int32_t> history = {1, 1};
    // log(0.5)*3 < log(0.25): token 1 falls behind token 3.
    QCOMPARE(s.sample(l.data(), history, 2), 3);
    QVERIFY(std::abs(l[1] - std::log(0.5f) * 3) < 1e-6f);  // applied once despite the repeat
  }

  void bad_settings_rejected() {
    SamplingParams p;
    p.top_p = 0;
    R1_EXPECT_ERROR(p.validate(), "top_p");
    p = {};
    p.temperature = -1;
    R1_EXPECT_ERROR(p.validate(), "temperature");
    p = {};
    p.min_p = 1.5f;
    R1_EXPECT_ERROR(Sampler(p, 3), "min_p");
  }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "tst_sampler.moc"
