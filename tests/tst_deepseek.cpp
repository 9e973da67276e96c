// DeepSeek-V2/V3 on the CPU: the transformers fixtures through both MLA paths (expanded and absorbed), MoE
// routing against hand-computed cases, the absorbed and dispatch kernels against naive loops, config and
// tensor errors naming what is wrong, the latent KV cache figures, and the r1wb commands on the fixtures.
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/io/npy.h"
#include "engine/io/safetensors.h"
#include "engine/model/rope.h"
#include "engine/runtime/cpu_mla_runtime.h"
#include "engine/runtime/generator.h"
#include "kernels/common/half.h"
#include "kernels/cpu/mla.h"
#include "kernels/cpu/moe.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

std::filesystem::path fixture(const std::string& name) {
  return test::fixtures() / "models" / name;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_text_file(path));
}

const char* path_name(MlaPath p) {
  return p == MlaPath::Expanded ? "expanded" : p == MlaPath::Absorbed ? "absorbed" : "auto";
}

std::unique_ptr<Runtime> make_runtime(std::shared_ptr<const Model> model, MlaPath path,
                                      int64_t max_batch_tokens = 0, int sequences = 1) {
  RuntimeOptions o;
  o.max_context = 64;
  o.mla_path = path;
  o.max_batch_tokens = max_batch_tokens;
  o.max_sequences = sequences;
  return create_runtime(std::move(model), o);
}

std::vector<float> prompt_logits(Runtime& rt, const std::vector<int32_t>& ids, int seq = 0) {
  std::vector<float> logits(ids.size() * size_t(rt.config().vocab_size));
  const SequenceInput in{seq, ids, true};
  rt.forward({&in, 1}, logits.data());
  return logits;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i)
    d = std::max(d, std::abs(double(a[i]) - double(b[i])) + (a[i] == a[i] ? 0 : 1e9));
  return d;
}

std::vector<int32_t> fixture_prompt(const std::string& name) {
  return read_json(fixture(name) / "expected.json")["prompt"].get<std::vector<int32_t>>();
}

std::string join_ids(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

float logit(float p) {
  return std::log(p / (1 - p));
}

// Rewrites a fixture copy's model.safetensors: `drop` removed, `reshape` given a zero tensor of `shape`.
void rewrite_weights(const std::filesystem::path& src, const std::filesystem::path& dst,
                     const std::string& drop, const std::string& reshape = "", const Shape& shape = {}) {
  test::copy_dir(src, dst);
  const SafetensorsFile file(src / "model.safetensors");
  std::vector<TensorToWrite> tensors;
  std::vector<float> zeros(static_cast<size_t>(numel(shape)));
  for (const auto& e : file.entries()) {
    if (e.name == drop) continue;
    tensors.push_back(
        {e.name, e.name == reshape ? TensorView{zeros.data(), DType::F32, shape} : file.view(e)});
  }
  write_safetensors(dst / "model.safetensors", tensors);
}

ModelConfig tiny_v3_config() {
  auto j = read_json(fixture("deepseek-v3-yarn") / "config.json");
  j["num_hidden_layers"] = 2;
  return parse_hf_config(j.dump(), "tiny");
}

}  // namespace

class TestDeepseek : public QObject {
  Q_OBJECT

 private:
  static void fixtures_and_paths() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("path");
    for (const char* n : {"deepseek-v2-lite-style", "deepseek-v2-odd-dims", "deepseek-v3-yarn"})
      for (MlaPath p : {MlaPath::Expanded, MlaPath::Absorbed, MlaPath::Auto})
        QTest::newRow(qPrintable(QString("%1 %2").arg(n, path_name(p)))) << n << int(p);
  }

 private slots:
  void logits_match_transformers_data() { fixtures_and_paths(); }
  void logits_match_transformers() {
    QFETCH(QString, name);
    QFETCH(int, path);
    const auto dir = fixture(name.toStdString());
    const auto model = load_model(dir);
    const auto ref = read_npy(dir / "logits.npy");
    const auto ids = fixture_prompt(name.toStdString());
    QCOMPARE(ref.shape, (Shape{int64_t(ids.size()), model->config.vocab_size}));
    const auto rt = make_runtime(model, MlaPath(path));
    const auto logits = prompt_logits(*rt, ids);
    const double diff = max_abs_diff(logits.data(), ref.f32(), logits.size());
    qInfo("%s, %s path: max abs logit difference %.3g", qPrintable(name), path_name(MlaPath(path)), diff);
    QVERIFY2(diff <= 1e-3, qPrintable(QString("max abs logit difference %1").arg(diff)));
  }

  void greedy_continuation_matches_data() { fixtures_and_paths(); }
  void greedy_continuation_matches() {
    QFETCH(QString, name);
    QFETCH(int, path);
    const auto exp = read_json(fixture(name.toStdString()) / "expected.json");
    const auto rt = make_runtime(load_model(fixture(name.toStdString())), MlaPath(path));
    Generator gen(*rt);
    GenerateOptions go;
    go.max_new_tokens = 32;
    const auto res = gen.generate(exp["prompt"].get<std::vector<int32_t>>(), go, SamplingParams::greedy());
    QCOMPARE(res.tokens, exp["greedy"].get<std::vector<int32_t>>());
  }

  // Decode steps over a growing cache: the absorbed path equals the expanded one step by step.
  void paths_agree_while_decoding_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("v2") << "deepseek-v2-lite-style";
    QTest::newRow("v2 odd dims") << "deepseek-v2-odd-dims";
    QTest::newRow("v3") << "deepseek-v3-yarn";
  }
  void paths_agree_while_decoding() {
    QFETCH(QString, name);
    const auto model = load_model(fixture(name.toStdString()));
    const auto expanded = make_runtime(model, MlaPath::Expanded),
               absorbed = make_runtime(model, MlaPath::Absorbed);
    const auto prompt = fixture_prompt(name.toStdString());
    const size_t V = size_t(model->config.vocab_size);
    std::vector<float> a(V), b(V);
    const SequenceInput in{0, prompt, false};
    expanded->forward({&in, 1}, a.data());
    absorbed->forward({&in, 1}, b.data());
    double worst = max_abs_diff(a.data(), b.data(), V);
    for (int32_t step = 0; step < 16; ++step) {
      const int32_t tok = argmax(a.data(), int64_t(V));
      const SequenceInput next{0, {&tok, 1}, false};
      expanded->forward({&next, 1}, a.data());
      absorbed->forward({&next, 1}, b.data());
      worst = std::max(worst, max_abs_diff(a.data(), b.data(), V));
    }
    qInfo("%s: expanded vs absorbed over 16 decode steps: max abs difference %.3g", qPrintable(name), worst);
    QVERIFY2(worst <= 1e-4, qPrintable(QString("paths differ by %1").arg(worst)));
  }

  // A prompt split into chunks, and two sequences (one prefilling, one decoding) in one batch, give the
  // logits of the whole prompt run alone.
  void chunked_and_batched_match_alone() {
    const auto model = load_model(fixture("deepseek-v3-yarn"));
    const auto ids = fixture_prompt("deepseek-v3-yarn");
    const size_t V = size_t(model->config.vocab_size), T = ids.size();
    const auto alone = prompt_logits(*make_runtime(model, MlaPath::Auto), ids);
    const auto chunked = prompt_logits(*make_runtime(model, MlaPath::Auto, 5), ids);
    QVERIFY(max_abs_diff(alone.data(), chunked.data(), alone.size()) <= 1e-4);

    const auto rt = make_runtime(model, MlaPath::Auto, 0, 2);
    const std::vector<int32_t> head(ids.begin(), ids.end() - 1);
    prompt_logits(*rt, head, 1);
    std::vector<float> out((T + 1) * V);
    const SequenceInput batch[2] = {{0, ids, true}, {1, {&ids.back(), 1}, false}};
    rt->forward(batch, out.data());
    QVERIFY(max_abs_diff(out.data(), alone.data(), T * V) <= 1e-4);
    QVERIFY(max_abs_diff(out.data() + T * V, alone.data() + (T - 1) * V, V) <= 1e-4);

    rt->fork(0, 1);  // the latent cache is copied: both continue alike
    std::vector<float> a(V), b(V);
    const int32_t tok = 7;
    const SequenceInput s0{0, {&tok, 1}, false}, s1{1, {&tok, 1}, false};
    rt->forward({&s0, 1}, a.data());
    rt->forward({&s1, 1}, b.data());
    QCOMPARE(max_abs_diff(a.data(), b.data(), V), 0.0);
  }

  void kv_cache_holds_only_the_latent() {
    const auto model = load_model(fixture("deepseek-v3-yarn"));
    const auto rt = make_runtime(model, MlaPath::Auto);
    prompt_logits(*rt, fixture_prompt("deepseek-v3-yarn"));
    const KvCacheStats s = rt->kv_stats();
    QCOMPARE(s.bytes_per_token_layer, int64_t((32 + 8) * sizeof(float)));  // kv_lora_rank + qk_rope_head_dim
    QCOMPARE(s.bytes_per_token, s.bytes_per_token_layer * 3);
    QCOMPARE(s.used_tokens, int64_t(12));
    const ModelConfig lite = shape_config("deepseek-v2-lite");
    QCOMPARE(mla_latent_values_per_token(lite), int64_t(576));
    QCOMPARE(mha_values_per_token(lite), int64_t(5120));
  }

  // V2-Lite has 15.7 B parameters, 2.4 B active per token (DeepSeek-V2 paper, table of released models).
  void v2_lite_shape_counts() {
    const ModelConfig c = shape_config("deepseek-v2-lite");
    std::vector<DeepseekLayerWeights> layers;
    int64_t total = 2 * c.vocab_size * c.hidden_size + c.hidden_size;
    for (const auto& t : deepseek_layer_tensors(c, layers)) total += numel(t.shape);
    QVERIFY2(std::abs(double(total) / 1e9 - 15.7) < 0.05, qPrintable(QString::number(total)));
    QVERIFY(std::abs(double(deepseek_active_parameters(c)) / 1e9 - 2.4) < 0.1);
    // 40x YaRN with mscale_all_dim 0.707: softmax scale 192^-0.5 * (0.1 * 0.707 * ln 40 + 1)^2
    const double m = 0.1 * 0.707 * std::log(40.0) + 1;
    QVERIFY(std::abs(mla_softmax_scale(c) - m * m / std::sqrt(192.0)) < 1e-12);
  }

  void rope_and_softmax_scale_match_transformers() {
    for (const char* n : {"deepseek-v2-lite-style", "deepseek-v3-yarn"}) {
      const auto exp = read_json(fixture(n) / "expected.json");
      const ModelConfig c = load_hf_config(fixture(n));
      const auto t = rope_frequencies(c);
      const auto want = exp["inv_freq"].get<std::vector<double>>();
      QCOMPARE(t.inv_freq.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) QVERIFY(std::abs(t.inv_freq[i] - want[i]) <= 1e-6 * want[i]);
      QVERIFY(std::abs(t.attention_factor - exp["attention_scaling"].get<double>()) < 1e-6);
    }
    const double m = 0.1 * std::log(4.0) + 1;  // factor 4, mscale_all_dim 1
    QVERIFY(std::abs(mla_softmax_scale(load_hf_config(fixture("deepseek-v3-yarn"))) -
                     m * m / std::sqrt(24.0)) < 1e-12);
    QVERIFY(std::abs(mla_softmax_scale(load_hf_config(fixture("deepseek-v2-lite-style"))) -
                     1 / std::sqrt(24.0)) < 1e-12);
  }

  void expert_load_counts_routed_tokens() {
    const auto model = load_model(fixture("deepseek-v2-lite-style"));
    const auto rt = make_runtime(model, MlaPath::Auto);
    prompt_logits(*rt, fixture_prompt("deepseek-v2-lite-style"));
    const ExpertLoad* load = rt->expert_load();
    QVERIFY(load);
    QCOMPARE(load->experts, int64_t(8));
    for (int64_t l = 0; l < 3; ++l) {
      int64_t sum = 0, busiest = 0;
      for (int64_t e = 0; e < 8; ++e) sum += load->at(l, e), busiest = std::max(busiest, load->at(l, e));
      QCOMPARE(sum, l == 0 ? int64_t(0) : int64_t(12 * 2));  // layer 0 is dense; 12 tokens, top-2
      if (l > 0) QVERIFY(busiest <= 12);
    }
    rt->reset_expert_load();
    QCOMPARE(load->at(1, 0) + load->at(2, 7), int64_t(0));
    QVERIFY(!make_runtime(load_model(fixture("qwen2-tied")), MlaPath::Auto)->expert_load());
  }

  // Random bf16 weights: both paths agree (bf16 GEMV, the absorbed kernels reading bf16 kv_b).
  void random_bf16_model_paths_agree() {
    const auto model = random_model(tiny_v3_config(), DType::BF16, 5, 0.08f);
    QVERIFY(model->parameter_count() > 0);
    const std::vector<int32_t> ids = {3, 14, 15, 92, 65, 35, 89, 79};
    const auto a = prompt_logits(*make_runtime(model, MlaPath::Expanded), ids);
    const auto b = prompt_logits(*make_runtime(model, MlaPath::Absorbed), ids);
    QVERIFY2(max_abs_diff(a.data(), b.data(), a.size()) <= 1e-4,
             qPrintable(QString::number(max_abs_diff(a.data(), b.data(), a.size()))));
  }

  // V2: softmax, greedy top-k, scaled. Probabilities 0.1 0.2 0.3 0.4 pick experts 3 and 2.
  void v2_greedy_routing() {
    const float z[4] = {std::log(1.f), std::log(2.f), std::log(3.f), std::log(4.f)};
    cpu::RouterConfig rc;
    rc.n_experts = 4, rc.top_k = 2, rc.scaling = 2.0f;
    std::vector<float> scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc)));
    int32_t ids[2];
    float w[2];
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QCOMPARE(ids[0], 3);
    QCOMPARE(ids[1], 2);
    QVERIFY(std::abs(w[0] - 0.8f) < 1e-6f && std::abs(w[1] - 0.6f) < 1e-6f);
    rc.normalize = true;  // norm_topk_prob: 0.4 / 0.7 and 0.3 / 0.7, then scaled
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QVERIFY(std::abs(w[0] - 8.f / 7) < 1e-6f && std::abs(w[1] - 6.f / 7) < 1e-6f);
  }

  // V2 group_limited_greedy: groups ranked by their best expert. The best group {6: 0.30, 7: 0.10} alone is
  // kept, so expert 1 (0.25, second overall) loses to expert 7.
  void v2_group_limited_routing() {
    const float p[8] = {0.05f, 0.25f, 0.12f, 0.08f, 0.02f, 0.08f, 0.30f, 0.10f};
    float z[8];
    for (int e = 0; e < 8; ++e) z[e] = std::log(p[e]);
    cpu::RouterConfig rc;
    rc.n_experts = 8, rc.top_k = 2, rc.n_group = 4, rc.topk_group = 1, rc.scaling = 16.0f;
    std::vector<float> scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc)));
    int32_t ids[2];
    float w[2];
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QCOMPARE(ids[0], 6);
    QCOMPARE(ids[1], 7);
    QVERIFY(std::abs(w[0] - 4.8f) < 1e-5f && std::abs(w[1] - 1.6f) < 1e-5f);
    rc.n_group = 1, rc.topk_group = 1;  // plain greedy takes the two best
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QCOMPARE(ids[1], 1);
  }

  // V3: sigmoid scores, groups ranked by the sum of their top two, topk_group of 4 groups kept, weights from
  // the unbiased scores normalised and scaled; the correction bias moves the choice, not the weights.
  void v3_group_limited_routing_with_bias() {
    const float s[8] = {0.9f, 0.1f, 0.6f, 0.55f, 0.2f, 0.85f, 0.5f, 0.45f};
    float z[8];
    for (int e = 0; e < 8; ++e) z[e] = logit(s[e]);
    float bias[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    cpu::RouterConfig rc;
    rc.n_experts = 8, rc.top_k = 2, rc.scoring = cpu::RouterScoring::Sigmoid, rc.n_group = 4,
    rc.topk_group = 2;
    rc.group_score = cpu::GroupScore::SumTop2, rc.selection_bias = bias, rc.normalize = true,
    rc.scaling = 2.5f;
    std::vector<float> scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc)));
    int32_t ids[2];
    float w[2];
    // Group sums 1.00, 1.15, 1.05, 0.95: groups 1 and 2 stay, so expert 0 (the best score) is out.
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QCOMPARE(ids[0], 5);
    QCOMPARE(ids[1], 2);
    QVERIFY(std::abs(w[0] - 0.85f / 1.45f * 2.5f) < 1e-5f && std::abs(w[1] - 0.6f / 1.45f * 2.5f) < 1e-5f);
    // +0.5 on expert 7: group 3 sums 1.45 and expert 7 is chosen first, weighted by its own 0.45.
    bias[7] = 0.5f;
    cpu::moe_route_forward(ids, w, z, 1, rc, scratch.data());
    QCOMPARE(ids[0], 7);
    QCOMPARE(ids[1], 2);
    QVERIFY(std::abs(w[0] - 0.45f / 1.05f * 2.5f) < 1e-5f && std::abs(w[1] - 0.6f / 1.05f * 2.5f) < 1e-5f);
  }

  void expert_dispatch_matches_naive() {
    const int64_t T = 9, D = 12, I = 7, E = 5, K = 2;
    std::mt19937 rng(3);
    std::normal_distribution<float> g(0.0f, 0.5f);
    const auto fill = [&](size_t n) {
      std::vector<float> v(n);
      for (auto& x : v) x = g(rng);
      return v;
    };
    std::vector<std::vector<float>> w;
    std::vector<cpu::ExpertMatrices> experts;
    for (int64_t e = 0; e < E; ++e) {
      for (size_t n : {size_t(I * D), size_t(I * D), size_t(D * I)}) w.push_back(fill(n));
      experts.push_back({w[w.size() - 3].data(), w[w.size() - 2].data(), w.back().data()});
    }
    const auto x = fill(size_t(T * D));
    std::vector<int32_t> ids(size_t(T * K));
    for (int64_t t = 0; t < T; ++t)
      ids[size_t(t * K)] = int32_t(t % E), ids[size_t(t * K + 1)] = int32_t((t * 3 + 1) % E);
    const auto weights = fill(size_t(T * K));
    std::vector<float> sx(T * D), sg(T * I), su(T * I), sy(T * D), rw(T * K),
        panel(size_t(cpu::linear_scratch_floats(I)));
    std::vector<int32_t> offsets(E + 1), rows(T * K);
    const cpu::MoeScratch s{sx.data(),      sg.data(),   su.data(), sy.data(),
                            offsets.data(), rows.data(), rw.data(), {panel.data(), int64_t(panel.size())}};
    std::vector<float> out(size_t(T * D), 1.0f);
    std::vector<int64_t> counts(E, 0);
    cpu::moe_experts_forward(out.data(), x.data(), ids.data(), weights.data(), T, K, E, D, I, experts.data(),
                             DType::F32, s, counts.data());
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t d = 0; d < D; ++d) {
        double want = 1.0;
        for (int64_t k = 0; k < K; ++k) {
          const int32_t e = ids[size_t(t * K + k)];
          const auto& m = experts[size_t(e)];
          double y = 0;
          for (int64_t i = 0; i < I; ++i) {
            double gi = 0, ui = 0;
            for (int64_t j = 0; j < D; ++j) {
              gi += double(static_cast<const float*>(m.gate)[i * D + j]) * x[size_t(t * D + j)];
              ui += double(static_cast<const float*>(m.up)[i * D + j]) * x[size_t(t * D + j)];
            }
            y += double(static_cast<const float*>(m.down)[d * I + i]) * gi / (1 + std::exp(-gi)) * ui;
          }
          want += weights[size_t(t * K + k)] * y;
        }
        QVERIFY(std::abs(out[size_t(t * D + d)] - want) < 1e-4);
      }
    }
    for (int64_t e = 0; e < E; ++e)
      QCOMPARE(counts[size_t(e)], int64_t(std::count(ids.begin(), ids.end(), int32_t(e))));
  }

  void absorb_kernels_match_naive() {
    const int64_t T = 3, H = 2, nope = 4, dv = 3, lora = 5, stride = 9;
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    std::vector<uint16_t> kv_b(size_t(H * (nope + dv) * lora));
    for (auto& v : kv_b) v = f32_to_bf16(g(rng));
    const auto W = [&](int64_t row, int64_t col) {
      return double(bf16_to_f32(kv_b[size_t(row * lora + col)]));
    };
    std::vector<float> q(size_t(T * H * stride)), q_lat(size_t(T * H * 6), -1.0f),
        o_lat(size_t(T * H * lora)), o(size_t(T * H * dv));
    for (auto& v : q) v = g(rng);
    for (auto& v : o_lat) v = g(rng);
    cpu::mla_absorb_query_forward(q_lat.data(), 6, q.data(), stride, kv_b.data(), DType::BF16, T, H, nope, dv,
                                  lora);
    cpu::mla_absorb_output_forward(o.data(), o_lat.data(), kv_b.data(), DType::BF16, T, H, nope, dv, lora);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t j = 0; j < lora; ++j) {
          double want = 0;
          for (int64_t i = 0; i < nope; ++i)
            want += q[size_t((t * H + h) * stride + i)] * W(h * (nope + dv) + i, j);
          QVERIFY(std::abs(q_lat[size_t((t * H + h) * 6 + j)] - want) < 1e-5);
        }
        QCOMPARE(q_lat[size_t((t * H + h) * 6 + 5)], -1.0f);  // the rope slot is left alone
        for (int64_t j = 0; j < dv; ++j) {
          double want = 0;
          for (int64_t k = 0; k < lora; ++k)
            want += W(h * (nope + dv) + nope + j, k) * o_lat[size_t((t * H + h) * lora + k)];
          QVERIFY(std::abs(o[size_t((t * H + h) * dv + j)] - want) < 1e-5);
        }
      }
    }
  }

  void bad_configs_name_the_field_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("value");  // JSON, or empty to delete the key
    QTest::addColumn<QString>("fragment");
    struct Case {
      const char *row, *fixture, *key, *value, *fragment;
    };
    const char *v3 = "deepseek-v3-yarn", *v2 = "deepseek-v2-lite-style";
    const Case cases[] = {
        {"missing kv_lora_rank", v3, "kv_lora_rank", "", "\"kv_lora_rank\" is missing"},
        {"missing q_lora_rank", v2, "q_lora_rank", "", "\"q_lora_rank\" is missing"},
        {"q_lora_rank a string", v3, "q_lora_rank", "\"48\"", "\"q_lora_rank\" must be an integer"},
        {"missing v_head_dim", v2, "v_head_dim", "", "\"v_head_dim\" is missing"},
        {"odd rope dim", v3, "qk_rope_head_dim", "7", "\"qk_rope_head_dim\" must be even"},
        {"topk_group > n_group", v3, "topk_group", "5", "\"topk_group\" (5) must not exceed n_group (4)"},
        {"n_group not dividing", v3, "n_group", "3", "\"n_group\" (3) must divide n_routed_experts (8)"},
        {"k > experts", v2, "num_experts_per_tok", "9", "\"num_experts_per_tok\" (9) must not exceed"},
        {"k > kept experts", v3, "num_experts_per_tok", "5", "\"num_experts_per_tok\" (5) exceeds the 4"},
        {"v3 softmax", v3, "scoring_func", "\"softmax\"", "\"scoring_func\""},
        {"v3 greedy", v3, "topk_method", "\"greedy\"", "\"topk_method\""},
        {"v2 unknown method", v2, "topk_method", "\"fastest\"", "\"topk_method\" \"fastest\""},
        {"v2 norm_topk_prob", v2, "norm_topk_prob", "true", "\"norm_topk_prob\""},
        {"attention bias", v2, "attention_bias", "true", "\"attention_bias\""},
        {"moe_layer_freq", v3, "moe_layer_freq", "2", "\"moe_layer_freq\""},
        {"negative scaling", v3, "routed_scaling_factor", "-1", "\"routed_scaling_factor\""},
    };
    for (const Case& c : cases) QTest::newRow(c.row) << c.fixture << c.key << c.value << c.fragment;
  }
  void bad_configs_name_the_field() {
    QFETCH(QString, name);
    QFETCH(QString, key);
    QFETCH(QString, value);
    QFETCH(QString, fragment);
    auto j = read_json(fixture(name.toStdString()) / "config.json");
    if (value.isEmpty()) {
      j.erase(key.toStdString());
    } else {
      j[key.toStdString()] = nlohmann::json::parse(value.toStdString());
    }
    const std::string want = fragment.toStdString();
    R1_EXPECT_ERROR(parse_hf_config(j.dump(), "cfg/config.json"), "cfg/config.json", want.c_str());
  }

  void v2_lite_style_defaults_and_model_type() {
    auto j = read_json(fixture("deepseek-v2-lite-style") / "config.json");
    j.erase("architectures");
    j.erase("head_dim");
    j.erase("n_shared_experts");
    const ModelConfig c = parse_hf_config(j.dump(), "config.json");
    QCOMPARE(c.arch, Arch::DeepseekV2);
    QCOMPARE(c.head_dim, int64_t(8));  // the rope part, as transformers sets it
    QCOMPARE(c.mla.q_lora_rank, int64_t(0));
    QCOMPARE(c.moe.n_shared_experts, int64_t(2));  // transformers' DeepseekV2 default
    QVERIFY(c.mla.rope_interleave);
    const ModelConfig v3 = load_hf_config(fixture("deepseek-v3-yarn"));
    QCOMPARE(v3.moe.topk_method, MoeTopkMethod::NoAuxTc);
    QCOMPARE(v3.mtp_layers, int64_t(1));
  }

  void missing_and_misshaped_tensors() {
    test::TempDir tmp;
    const auto src = fixture("deepseek-v2-lite-style");
    rewrite_weights(src, tmp / "a", "model.layers.1.mlp.experts.3.up_proj.weight");
    R1_EXPECT_ERROR(load_model(tmp / "a"), "model.safetensors",
                    "missing tensor 'model.layers.1.mlp.experts.3.up_proj.weight'", "[32, 64]");
    rewrite_weights(src, tmp / "b", "", "model.layers.2.self_attn.kv_b_proj.weight", {128, 16});
    R1_EXPECT_ERROR(load_model(tmp / "b"), "'model.layers.2.self_attn.kv_b_proj.weight' has shape [128, 16]",
                    "expected [128, 32]");
    rewrite_weights(fixture("deepseek-v3-yarn"), tmp / "c",
                    "model.layers.2.mlp.gate.e_score_correction_bias");
    R1_EXPECT_ERROR(load_model(tmp / "c"), "model.layers.2.mlp.gate.e_score_correction_bias", "[8]");
  }

  // Multi-token-prediction tensors past the last layer are skipped, and r1wb info says so.
  void mtp_layers_are_skipped_with_a_note() {
    test::TempDir tmp;
    const auto src = fixture("deepseek-v3-yarn");
    test::copy_dir(src, tmp / "m");
    const SafetensorsFile file(src / "model.safetensors");
    std::vector<TensorToWrite> tensors;
    for (const auto& e : file.entries()) tensors.push_back({e.name, file.view(e)});
    std::vector<float> eh(64 * 128, 0.5f);
    tensors.push_back({"model.layers.3.eh_proj.weight", TensorView{eh.data(), DType::F32, {64, 128}}});
    write_safetensors(tmp / "m" / "model.safetensors", tensors);
    const auto model = load_model(tmp / "m");
    QCOMPARE(mtp_tensor_count(model->config, *model->store), int64_t(1));
    const auto r = test::run_program("r1wb", {"info", "--model", (tmp / "m").string()});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    QVERIFY2(r.out.find(
                 "1 multi-token-prediction layer(s) in config.json, 1 tensor(s) past layer 2: not loaded") !=
                 std::string::npos,
             r.out.c_str());
  }

  void info_shows_latent_next_to_mha() {
    const auto r =
        test::run_program("r1wb", {"info", "--model", fixture("deepseek-v3-yarn").string(), "--json"});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const auto j = nlohmann::json::parse(r.out);
    QCOMPARE(j["architecture"].get<std::string>(), std::string("DeepseekV3ForCausalLM"));
    QCOMPARE(j["kv_cache_latent_values_per_token_per_layer"].get<int64_t>(), int64_t(40));
    QCOMPARE(j["kv_cache_mha_values_per_token_per_layer"].get<int64_t>(), int64_t(4 * (24 + 16)));
    QCOMPARE(j["kv_cache_bytes_per_token"].get<int64_t>(), int64_t(40 * 4 * 3));
    QCOMPARE(j["mla"]["q_lora_rank"].get<int64_t>(), int64_t(48));
    QCOMPARE(j["moe"]["n_routed_experts"].get<int64_t>(), int64_t(8));
    QCOMPARE(j["mtp_layers"].get<int64_t>(), int64_t(1));
    const auto human =
        test::run_program("r1wb", {"info", "--model", fixture("deepseek-v2-lite-style").string()});
    QCOMPARE(human.exit_code, 0);
    QVERIFY2(human.out.find("MLA latent: 40 values/token/layer") != std::string::npos &&
                 human.out.find("(MHA) would need 160") != std::string::npos,
             human.out.c_str());
  }

  void cli_logits_and_generate_match_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("path");
    for (const char* n : {"deepseek-v2-lite-style", "deepseek-v2-odd-dims", "deepseek-v3-yarn"})
      for (const char* p : {"auto", "expanded", "absorbed"})
        QTest::newRow(qPrintable(QString("%1 %2").arg(n, p))) << n << p;
  }
  void cli_logits_and_generate_match() {
    QFETCH(QString, name);
    QFETCH(QString, path);
    const auto dir = fixture(name.toStdString());
    const auto exp = read_json(dir / "expected.json");
    const std::string ids = join_ids(exp["prompt"].get<std::vector<int32_t>>());
    test::TempDir tmp;
    // logits: one multi-token chunk (auto expands it).
    const auto out = (tmp / "l.npy").string();
    const auto r = test::run_program("r1wb", {"logits", "--model", dir.string(), "--ids", ids, "--out", out,
                                              "--mla-path", path.toStdString()});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const auto ours = read_npy(out), ref = read_npy(dir / "logits.npy");
    QCOMPARE(ours.shape, ref.shape);
    QVERIFY(max_abs_diff(ours.f32(), ref.f32(), size_t(numel(ref.shape))) <= 1e-3);
    // generate: prefill, then 31 decode steps (auto: expanded prefill, absorbed decode).
    const auto g = test::run_program(
        "r1wb", {"generate", "--model", dir.string(), "--ids", ids, "--max-new-tokens", "32", "--greedy",
                 "--print-ids", "--no-stop", "--mla-path", path.toStdString()});
    QVERIFY2(g.exit_code == 0, g.err.c_str());
    QCOMPARE(g.out, join_ids(exp["greedy"].get<std::vector<int32_t>>()) + "\n");
  }
};

QTEST_APPLESS_MAIN(TestDeepseek)
#include "tst_deepseek.moc"
