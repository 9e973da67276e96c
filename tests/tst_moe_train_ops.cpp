// Mixture-of-experts training on the CPU: each op's forward against the inference router (kernels/cpu/moe.h)
// or its definition, each backward against central finite differences of L = Σ r ⊙ y, and the whole trainer's
// gradient of a tiny random DeepSeek MoE model against finite differences of its loss.
//
// Routing is piecewise constant: a finite difference across a change of the chosen experts measures a jump,
// not a derivative. Every check here therefore also asserts that no perturbation changed the choice.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>

#include "engine/core/error.h"
#include "engine/train/trainer.h"
#include "kernels/cpu/moe.h"
#include "kernels/cpu/moe_train.h"
#include "kernels/cpu/parallel.h"
#include "testlib/grad_check.h"
#include "testlib/test_support.h"
#include "testlib/train_batches.h"

using namespace r1;
using r1::test::dot;
using r1::test::randn;

namespace {

using Vec = std::vector<float>;
using Ids = std::vector<int32_t>;

struct RouterCase {
  const char* name;
  cpu::RouterScoring scoring;
  int64_t n_experts, top_k, n_group, topk_group;
  cpu::GroupScore group_score;
  bool bias, normalize;
  float scaling;
};

const RouterCase kRouterCases[] = {
    {"v3 sigmoid, bias, groups, normalized", cpu::RouterScoring::Sigmoid, 8, 3, 4, 2,
     cpu::GroupScore::SumTop2, true, true, 2.5f},
    {"v3 sigmoid, bias, one group", cpu::RouterScoring::Sigmoid, 6, 2, 1, 1, cpu::GroupScore::SumTop2, true,
     true, 2.5f},
    {"sigmoid, not normalized", cpu::RouterScoring::Sigmoid, 5, 2, 1, 1, cpu::GroupScore::Max, false, false,
     1.5f},
    {"v2 softmax greedy", cpu::RouterScoring::Softmax, 6, 2, 1, 1, cpu::GroupScore::Max, false, false, 1.5f},
    {"v2 softmax group-limited", cpu::RouterScoring::Softmax, 8, 2, 4, 2, cpu::GroupScore::Max, false, false,
     1.0f},
    {"softmax, normalized", cpu::RouterScoring::Softmax, 6, 3, 1, 1, cpu::GroupScore::Max, false, true, 1.0f},
};

// Per token, the experts' logits are a random permutation of levels 0.8 apart (plus a little noise), so that
// the choice has margins a 1e-2 step cannot cross.
Vec spaced_logits(int64_t T, int64_t E, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  Vec z(static_cast<size_t>(T * E));
  std::vector<int> perm(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), g);
    for (int64_t e = 0; e < E; ++e)
      z[size_t(t * E + e)] = 0.8f * (float(perm[size_t(e)]) - 0.5f * float(E - 1)) + noise(g);
  }
  return z;
}

cpu::RouterConfig router_config(const RouterCase& c, const Vec& bias) {
  cpu::RouterConfig rc;
  rc.n_experts = c.n_experts, rc.top_k = c.top_k, rc.scoring = c.scoring;
  rc.n_group = c.n_group, rc.topk_group = c.topk_group, rc.group_score = c.group_score;
  rc.selection_bias = c.bias ? bias.data() : nullptr;
  rc.normalize = c.normalize, rc.scaling = c.scaling;
  return rc;
}

struct Routed {  // a dispatch of random choices, for the dispatch and combine checks
  int64_t T, K, E;
  Ids ids, offsets, row_token, slot_row;
};

Routed random_routing(int64_t T, int64_t K, int64_t E, uint32_t seed) {
  Routed r{T, K, E, {}, {}, {}, {}};
  std::mt19937 g(seed);
  std::vector<int32_t> experts(static_cast<size_t>(E));
  std::iota(experts.begin(), experts.end(), 0);
  for (int64_t t = 0; t < T; ++t) {
    std::shuffle(experts.begin(), experts.end(), g);
    r.ids.insert(r.ids.end(), experts.begin(), experts.begin() + K);
  }
  r.offsets.resize(static_cast<size_t>(E + 1));
  r.row_token.resize(static_cast<size_t>(T * K));
  r.slot_row.resize(static_cast<size_t>(T * K));
  return r;
}

// A DeepSeek config small enough for finite differences of the whole model: layer 0 dense, layer 1 MoE with 4
// routed experts (2 per token) and one shared expert.
ModelConfig tiny_moe_config(Arch arch) {
  const bool v3 = arch == Arch::DeepseekV3;
  ModelConfig c;
  c.arch = arch;
  c.architecture = arch_name(arch);
  c.vocab_size = 53;
  c.hidden_size = 32;
  c.intermediate_size = 40;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 2;
  c.rms_norm_eps = 1e-6;
  c.max_position_embeddings = 64;
  c.mla = {.q_lora_rank = 16,
           .kv_lora_rank = 12,
           .qk_nope_head_dim = 8,
           .qk_rope_head_dim = 4,
           .v_head_dim = 8,
           .rope_interleave = true};
  c.head_dim = c.mla.qk_rope_head_dim;
  c.moe = {.n_routed_experts = 4,
           .num_experts_per_tok = 2,
           .n_shared_experts = 1,
           .moe_intermediate_size = 16,
           .first_k_dense_replace = 1,
           .n_group = v3 ? 2 : 1,
           .topk_group = 1,
           .scoring = v3 ? MoeScoring::Sigmoid : MoeScoring::Softmax,
           .topk_method = v3 ? MoeTopkMethod::NoAuxTc : MoeTopkMethod::Greedy,
           .norm_topk_prob = v3,
           .routed_scaling_factor = v3 ? 2.5 : 1.5};
  c.eos_token_ids = {0};
  c.torch_dtype = "float32";
  return c;
}

}  // namespace

class TestMoeTrainOps : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { cpu::set_num_threads(4); }

  void router_data() {
    QTest::addColumn<int>("which");
    for (int i = 0; i < int(std::size(kRouterCases)); ++i) QTest::newRow(kRouterCases[i].name) << i;
  }

  void router_forward_matches_inference_data() { router_data(); }
  void router_forward_matches_inference() {
    QFETCH(int, which);
    const RouterCase& c = kRouterCases[which];
    const int64_t T = 13, E = c.n_experts, K = c.top_k;
    const Vec z = randn(size_t(T * E), 3, 1.5f), bias = randn(size_t(E), 4, 0.2f);
    const cpu::RouterConfig rc = router_config(c, bias);
    Vec scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc)));
    Ids ids(static_cast<size_t>(T * K)), ref_ids(ids.size());
    Vec w(ids.size()), ref_w(ids.size()), scores(z.size());
    cpu::moe_router_forward(ids.data(), w.data(), scores.data(), z.data(), T, rc, scratch.data());
    cpu::moe_route_forward(ref_ids.data(), ref_w.data(), z.data(), T, rc, scratch.data());
    QCOMPARE(ids, ref_ids);
    QCOMPARE(w, ref_w);
    for (int64_t t = 0; t < T; ++t) {
      double sum = 0;
      for (int64_t e = 0; e < E; ++e) sum += std::exp(double(z[size_t(t * E + e)]));
      for (int64_t e = 0; e < E; ++e) {
        const double x = z[size_t(t * E + e)];
        const double want =
            c.scoring == cpu::RouterScoring::Sigmoid ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / sum;
        QVERIFY(std::abs(scores[size_t(t * E + e)] - want) < 1e-6);
      }
    }
  }

  void router_backward_gradients_data() { router_data(); }
  void router_backward_gradients() {
    QFETCH(int, which);
    const RouterCase& c = kRouterCases[which];
    const int64_t T = 9, E = c.n_experts, K = c.top_k;
    Vec z = spaced_logits(T, E, 10 + uint32_t(which));
    const Vec bias = randn(size_t(E), 20, 0.03f), r = randn(size_t(T * K), 30);
    const cpu::RouterConfig rc = router_config(c, bias);
    Vec scratch(static_cast<size_t>(cpu::moe_route_scratch_floats(rc)));
    Ids ids0(static_cast<size_t>(T * K)), ids(ids0.size());
    Vec w(ids0.size()), scores0(z.size()), scores(z.size());
    cpu::moe_router_forward(ids0.data(), w.data(), scores0.data(), z.data(), T, rc, scratch.data());
    Vec dz(z.size(), std::numeric_limits<float>::quiet_NaN());
    cpu::moe_router_backward(dz.data(), r.data(), ids0.data(), scores0.data(), T, rc);
    bool flipped = false;
    CHECK_GRAD("dlogits", z, dz, [&] {
      cpu::moe_router_forward(ids.data(), w.data(), scores.data(), z.data(), T, rc, scratch.data());
      flipped = flipped || ids != ids0;
      return dot(r, w);
    });
    QVERIFY2(!flipped, "a perturbation changed the choice of experts: the test's logits need wider margins");
  }

  void dispatch_groups_rows_by_expert_then_token() {
    const int64_t T = 37, K = 3, E = 7, C = 5;
    Routed r = random_routing(T, K, E, 5);
    const Vec x = randn(size_t(T * C), 6);
    Vec xe(static_cast<size_t>(T * K * C));
    cpu::moe_dispatch_forward(xe.data(), r.offsets.data(), r.row_token.data(), r.slot_row.data(), x.data(),
                              r.ids.data(), T, K, E, C);
    QCOMPARE(r.offsets.front(), 0);
    QCOMPARE(int64_t(r.offsets.back()), T * K);
    for (int64_t e = 0; e < E; ++e) {
      QVERIFY(r.offsets[size_t(e)] <= r.offsets[size_t(e + 1)]);
      for (int32_t row = r.offsets[size_t(e)]; row < r.offsets[size_t(e + 1)]; ++row) {
        const int32_t t = r.row_token[size_t(row)];
        if (row > r.offsets[size_t(e)]) QVERIFY(r.row_token[size_t(row - 1)] < t);
        const auto first = r.ids.begin() + t * K;
        QVERIFY(std::find(first, first + K, int32_t(e)) != first + K);
      }
    }
    for (int64_t s = 0; s < T * K; ++s) {
      const int32_t row = r.slot_row[size_t(s)];
      QCOMPARE(int64_t(r.row_token[size_t(row)]), s / K);
      QVERIFY(row >= r.offsets[size_t(r.ids[size_t(s)])] && row < r.offsets[size_t(r.ids[size_t(s)] + 1)]);
      for (int64_t c = 0; c < C; ++c) QCOMPARE(xe[size_t(row * C + c)], x[size_t(s / K * C + c)]);
    }
    Ids bad = r.ids;
    bad[4] = int32_t(E);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             cpu::moe_dispatch_forward(xe.data(), r.offsets.data(), r.row_token.data(),
                                                       r.slot_row.data(), x.data(), bad.data(), T, K, E, C));
  }

  void dispatch_backward_gradients() {
    const int64_t T = 11, K = 2, E = 5, C = 6;
    Routed r = random_routing(T, K, E, 7);
    Vec x = randn(size_t(T * C), 8), xe(static_cast<size_t>(T * K * C));
    const Vec g = randn(xe.size(), 9);
    const auto forward = [&] {
      cpu::moe_dispatch_forward(xe.data(), r.offsets.data(), r.row_token.data(), r.slot_row.data(), x.data(),
                                r.ids.data(), T, K, E, C);
    };
    forward();
    Vec dx(x.size(), std::numeric_limits<float>::quiet_NaN());
    cpu::moe_dispatch_backward(dx.data(), g.data(), r.slot_row.data(), T, K, C);
    CHECK_GRAD("dx", x, dx, [&] {
      forward();
      return dot(g, xe);
    });
  }

  void combine_gradients() {
    const int64_t T = 10, K = 3, E = 6, C = 7;
    Routed r = random_routing(T, K, E, 11);
    Vec unused(static_cast<size_t>(T * K * C));
    const Vec x = randn(size_t(T * C), 12);
    cpu::moe_dispatch_forward(unused.data(), r.offsets.data(), r.row_token.data(), r.slot_row.data(),
                              x.data(), r.ids.data(), T, K, E, C);
    Vec ye = randn(size_t(T * K * C), 13), w = randn(size_t(T * K), 14);
    const Vec out0 = randn(size_t(T * C), 15), g = randn(out0.size(), 16);
    Vec out = out0;
    cpu::moe_combine_forward(out.data(), ye.data(), w.data(), r.slot_row.data(), T, K, C);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C; ++c) {
        double want = out0[size_t(t * C + c)];
        for (int64_t j = 0; j < K; ++j)
          want += double(w[size_t(t * K + j)]) * ye[size_t(r.slot_row[size_t(t * K + j)] * C + c)];
        QVERIFY(std::abs(out[size_t(t * C + c)] - want) < 1e-5);
      }
    Vec dye(ye.size(), std::numeric_limits<float>::quiet_NaN()),
        dw(w.size(), std::numeric_limits<float>::quiet_NaN());
    cpu::moe_combine_backward(dye.data(), dw.data(), g.data(), ye.data(), w.data(), r.slot_row.data(), T, K,
                              C);
    const auto loss = [&] {
      out = out0;
      cpu::moe_combine_forward(out.data(), ye.data(), w.data(), r.slot_row.data(), T, K, C);
      return dot(g, out);
    };
    CHECK_GRAD("dye", ye, dye, loss);
    CHECK_GRAD("dweights", w, dw, loss);
  }

  // The trainer's gradient of a tiny random model against central differences of its loss, in the router, a
  // routed expert, the shared expert, and tensors below the MoE layer whose gradient passes through it.
  void trainer_gradient_matches_finite_differences_data() {
    QTest::addColumn<int>("arch");
    QTest::newRow("deepseek-v3 (sigmoid, bias, groups, normalized)") << int(Arch::DeepseekV3);
    QTest::newRow("deepseek-v2 (softmax, greedy)") << int(Arch::DeepseekV2);
  }
  void trainer_gradient_matches_finite_differences() {
    QFETCH(int, arch);
    const ModelConfig c = tiny_moe_config(Arch(arch));
    const auto model = random_model(c, DType::F32, 17, 0.08f);
    const TrainBatch batch = test::random_train_batch(2, 8, c.vocab_size, 18);
    TrainerOptions o;
    o.max_batch = batch.B, o.max_seq = batch.L;
    auto trainer = make_trainer(*model, o);
    const ParamLayout& layout = trainer->layout();
    QVERIFY(!layout.find("model.layers.1.mlp.gate.e_score_correction_bias"));
    QVERIFY(layout.find("model.layers.1.mlp.gate.weight")->decay);

    CrossEntropyObjective ce(batch.weights.data(), batch.weight_sum());
    const double loss0 = trainer->forward_backward(batch, ce);
    const Vec grads = trainer->gradients();
    const std::vector<std::vector<int64_t>> counts0 = trainer->expert_token_counts();
    QCOMPARE(counts0.size(), size_t(1));
    QCOMPARE(int64_t(counts0[0].size()), c.moe.n_routed_experts);
    QCOMPARE(std::accumulate(counts0[0].begin(), counts0[0].end(), int64_t(0)),
             batch.tokens() * c.moe.num_experts_per_tok);
    const int64_t busiest = std::max_element(counts0[0].begin(), counts0[0].end()) - counts0[0].begin();

    Vec params = trainer->parameters();
    std::vector<float> logp(static_cast<size_t>(batch.tokens()));
    const auto loss_at = [&](const Vec& p) {
      trainer->set_parameters(p);
      trainer->score(batch, logp.data());
      double l = 0;
      for (size_t t = 0; t < logp.size(); ++t) l -= double(batch.weights[t]) * logp[t];
      return l / batch.weight_sum();
    };
    QVERIFY(std::abs(loss_at(params) - loss0) < 1e-6 * std::abs(loss0));

    // Each difference is taken twice, at h and h / 2: where the two disagree the loss is not smooth there
    // (or rounding dominates) and the element proves nothing, so it is reported rather than compared.
    const std::string moe = "model.layers.1.";
    const std::string expert = cat(moe, "mlp.experts.", busiest, ".");
    int compared = 0;
    for (const std::string& name :
         {moe + "mlp.gate.weight", expert + "gate_proj.weight", expert + "up_proj.weight",
          expert + "down_proj.weight", moe + "mlp.shared_experts.up_proj.weight",
          moe + "mlp.shared_experts.down_proj.weight", moe + "post_attention_layernorm.weight",
          moe + "self_attn.kv_b_proj.weight", std::string("model.layers.0.mlp.gate_proj.weight")}) {
      const ParamTensor* t = layout.find(name);
      QVERIFY2(t, name.c_str());
      std::vector<int64_t> order(static_cast<size_t>(t->numel()));
      std::iota(order.begin(), order.end(), t->offset);
      std::partial_sort(order.begin(), order.begin() + 3, order.end(), [&](int64_t a, int64_t b) {
        return std::abs(grads[size_t(a)]) > std::abs(grads[size_t(b)]);
      });
      for (int k = 0; k < 3; ++k) {
        const size_t i = size_t(order[size_t(k)]);
        bool rerouted = false;
        const auto central = [&](float h) {
          const float saved = params[i];
          params[i] = saved + h;
          const double up = loss_at(params);
          rerouted = rerouted || trainer->expert_token_counts() != counts0;
          params[i] = saved - h;
          const double down = loss_at(params);
          rerouted = rerouted || trainer->expert_token_counts() != counts0;
          params[i] = saved;
          return (up - down) / (2.0 * double(h));
        };
        const double fd1 = central(1e-2f), fd2 = central(5e-3f), analytic = grads[i];
        QVERIFY2(!rerouted, qPrintable(QString("%1[%2]: a step changed how many tokens each expert gets")
                                           .arg(name.c_str())
                                           .arg(i - size_t(t->offset))));
        const double scale = std::max(std::abs(analytic), 1e-4);
        QVERIFY2(std::abs(fd1 - fd2) < 1e-2 * scale,
                 qPrintable(QString("%1[%2]: differences at h and h/2 disagree (%3, %4): not smooth here")
                                .arg(name.c_str())
                                .arg(i - size_t(t->offset))
                                .arg(fd1)
                                .arg(fd2)));
        QVERIFY2(std::abs(fd2 - analytic) < 2e-2 * scale,
                 qPrintable(QString("%1[%2]: gradient %3, finite difference %4")
                                .arg(name.c_str())
                                .arg(i - size_t(t->offset))
                                .arg(analytic)
                                .arg(fd2)));
        ++compared;
      }
    }
    QCOMPARE(compared, 27);

    // Recomputing each layer in the backward reproduces the same routing and gradients.
    o.recompute = true;
    auto again = make_trainer(*model, o);
    CrossEntropyObjective ce2(batch.weights.data(), batch.weight_sum());
    QVERIFY(std::abs(again->forward_backward(batch, ce2) - loss0) < 1e-6 * std::abs(loss0));
    QVERIFY(again->expert_token_counts() == counts0);
    const Vec regrads = again->gradients();
    double worst = 0, largest = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      worst = std::max(worst, double(std::abs(regrads[i] - grads[i])));
      largest = std::max(largest, double(std::abs(grads[i])));
    }
    QVERIFY2(worst <= 1e-6 * largest, qPrintable(QString("recomputed gradients differ by %1").arg(worst)));

    // Tensors outside the layout (the correction bias) come back from the base model.
    const auto trained = trained_model(*model, layout, params);
    if (c.arch == Arch::DeepseekV3) {
      const TensorView b0 = model->store->find(moe + "mlp.gate.e_score_correction_bias");
      const TensorView b1 = trained->store->find(moe + "mlp.gate.e_score_correction_bias");
      QVERIFY(b0 && b1);
      QCOMPARE(std::memcmp(b0.data, b1.data, size_t(b0.numel()) * 4), 0);
    }
  }

  void dense_models_report_no_experts() {
    ModelConfig c = tiny_moe_config(Arch::DeepseekV3);
    c.moe.first_k_dense_replace = c.num_layers;
    const auto model = random_model(c, DType::F32, 19, 0.08f);
    TrainerOptions o;
    o.max_seq = 8;
    auto trainer = make_trainer(*model, o);
    QVERIFY(trainer->expert_token_counts().empty());
    QVERIFY(!trainer->layout().find("model.layers.1.mlp.gate.weight"));
  }
};

QTEST_APPLESS_MAIN(TestMoeTrainOps)
#include "tst_moe_train_ops.moc"
