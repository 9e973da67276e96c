// GRPO: advantages, the clipped surrogate and k3 KL's derivatives against finite differences, that an update
// moves log-probabilities the way the advantages say, and a whole run with its record, checkpoint and resume.
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <map>
#include <random>

#include "engine/core/error.h"
#include "engine/grpo/distill.h"
#include "engine/grpo/grpo_run.h"
#include "engine/io/npy.h"
#include "engine/runtime/runtime.h"
#include "testlib/memory_recorder.h"
#include "testlib/test_support.h"

using namespace r1;
using namespace r1::test;

class TestGrpo : public QObject {
  Q_OBJECT
 private slots:
  void advantages_are_group_relative() {
    const std::vector<double> r{1, 0, 0, 0, 2, 2, 2, 2};
    const auto a = group_advantages(r, 4, AdvantageScale::Group);
    // Group 1: mean 0.25, population std sqrt(3)/4.
    QVERIFY(std::abs(a[0] - 0.75 / (std::sqrt(3.0) / 4 + 1e-4)) < 1e-9);
    QVERIFY(std::abs(a[1] + 0.25 / (std::sqrt(3.0) / 4 + 1e-4)) < 1e-9);
    for (int i = 4; i < 8; ++i) QCOMPARE(a[size_t(i)], 0.0);  // a flat group teaches nothing
    const auto n = group_advantages(r, 4, AdvantageScale::None);
    QCOMPARE(n[0], 0.75);
    const auto b = group_advantages(r, 4, AdvantageScale::Batch);
    QVERIFY(std::abs(b[0] - 0.75 / (std::sqrt(0.859375) + 1e-4)) < 1e-9);  // batch mean 1.125, var 6.875 / 8
    R1_EXPECT_ERROR(group_advantages(r, 3, AdvantageScale::Group), "whole groups");
  }

  void objective_gradient_matches_finite_differences() {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.0f, 0.3f);
    const int n = 64;
    std::vector<float> w(n), adv(n), old(n), ref(n), logp(n);
    for (int i = 0; i < n; ++i) {
      w[size_t(i)] = (i % 7 == 0) ? 0.0f : 0.01f * float(1 + i % 3);
      adv[size_t(i)] = nd(rng) * 3;
      logp[size_t(i)] = -1.0f + nd(rng);
      old[size_t(i)] = logp[size_t(i)] + nd(rng);  // ratios well inside and outside the clip range
      ref[size_t(i)] = logp[size_t(i)] + nd(rng);
    }
    GrpoLossConfig cfg;
    cfg.epsilon_low = 0.2, cfg.epsilon_high = 0.28, cfg.beta = 0.04;
    GrpoObjective obj(cfg, w.data(), adv.data(), old.data(), ref.data());
    std::vector<float> g(n, 0.0f), ge(n, 0.0f);
    obj.chunk(0, n, logp.data(), nullptr, g.data(), ge.data());
    QVERIFY(obj.stats().clipped_low + obj.stats().clipped_high > 0);  // both branches exercised
    int checked = 0;
    for (int i = 0; i < n; ++i) {
      const auto loss_at = [&](float v) {
        std::vector<float> lp = logp, gg(n), gge(n);
        lp[size_t(i)] = v;
        GrpoObjective o2(cfg, w.data(), adv.data(), old.data(), ref.data());
        return o2.chunk(0, n, lp.data(), nullptr, gg.data(), gge.data());
      };
      const double r = std::exp(double(logp[size_t(i)]) - old[size_t(i)]);
      // Skip points within h of a clip boundary, where the loss has a kink.
      if (std::abs(r - 0.8) < 0.01 || std::abs(r - 1.28) < 0.01) continue;
      const float h = 1e-3f;
      const double fd = (loss_at(logp[size_t(i)] + h) - loss_at(logp[size_t(i)] - h)) / (2.0 * h);
      QVERIFY2(std::abs(fd - g[size_t(i)]) < 1e-4 + 1e-2 * std::abs(fd),
               qPrintable(QString("token %1: analytic %2, numeric %3").arg(i).arg(g[size_t(i)]).arg(fd)));
      ++checked;
    }
    QVERIFY(checked > 50);
    // Without old log-probs the ratio is 1: the gradient is -w A (+ the KL term).
    GrpoLossConfig plain;
    GrpoObjective first(plain, w.data(), adv.data(), nullptr, nullptr);
    std::fill(g.begin(), g.end(), 0.0f);
    first.chunk(0, n, logp.data(), nullptr, g.data(), ge.data());
    for (int i = 0; i < n; ++i) QVERIFY(std::abs(g[size_t(i)] + w[size_t(i)] * adv[size_t(i)]) < 1e-7);
  }

  void update_follows_the_advantages() {
    const auto m = load_model(fixtures() / "train" / "qwen2-untied");
    TrainBatch b;
    b.B = 2, b.L = 10;
    for (int i = 0; i < 20; ++i) {
      b.ids.push_back(int32_t((i * 7) % 90));
      b.targets.push_back(int32_t((i * 11 + 3) % 90));
      b.weights.push_back(i % 10 >= 4 && i % 10 < 9 ? 1.0f : 0.0f);
    }
    TrainerOptions o;
    o.max_batch = 2, o.max_seq = 10;
    auto t = make_trainer(*m, o);
    std::vector<float> before(20), after(20), w(20), adv(20);
    for (int i = 0; i < 20; ++i) {
      w[size_t(i)] = b.weights[size_t(i)] / 10.0f;
      adv[size_t(i)] = i < 10 ? 1.0f : -1.0f;  // row 0 good, row 1 bad
    }
    t->score(b, before.data());
    GrpoObjective obj({}, w.data(), adv.data(), nullptr, nullptr);
    t->forward_backward(b, obj);
    OptimizerHyper h;
    t->optimizer_step(h, 1e-3);
    t->score(b, after.data());
    double up = 0, down = 0;
    for (int i = 0; i < 20; ++i) {
      if (b.weights[size_t(i)] == 0) continue;
      (i < 10 ? up : down) += after[size_t(i)] - before[size_t(i)];
    }
    QVERIFY2(up > 0 && down < 0, qPrintable(QString("row 0 moved %1, row 1 moved %2").arg(up).arg(down)));
  }

  // A run that ends by an exception (here thrown from the step callback, as a CUDA error or a full disk
  // would be from inside) is recorded as failed with the steps it completed, and the error reaches the
  // caller.
  void run_ending_in_an_error_is_recorded_as_failed() {
    MemoryRecorder rec;
    GrpoRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.task = "arithmetic", o.difficulty = "easy";
    o.group_size = 2, o.prompts_per_step = 2, o.max_completion = 4, o.steps = 5;
    o.recorder = &rec;
    o.on_step = [&](const nlohmann::json& m) {
      if (m["step"].get<int>() == 2) fail("device lost at step 2");
    };
    R1_EXPECT_ERROR(run_grpo(o), "device lost at step 2");
    QCOMPARE(rec.status, std::string("failed"));
    QCOMPARE(int64_t(rec.steps.size()), int64_t(2));
  }

  void run_records_every_step_and_resumes() {
    TempDir tmp;
    MemoryRecorder rec;
    GrpoRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.task = "arithmetic", o.difficulty = "easy";
    o.group_size = 4, o.prompts_per_step = 2, o.max_completion = 6, o.steps = 4, o.lr = 1e-3;
    o.mu = 2;
    o.loss.beta = 0.05;
    o.micro_batch = 3;
    o.out_dir = tmp / "run";
    o.metrics_jsonl = tmp / "m.jsonl";
    o.recorder = &rec;
    std::atomic<bool> stop{false};
    o.cancel = &stop;
    o.on_step = [&](const nlohmann::json& m) {
      if (m["step"].get<int>() == 2) stop = true;
    };
    const GrpoRunResult a = run_grpo(o);
    QVERIFY(a.cancelled);
    QCOMPARE(a.last_step, int64_t(2));
    QCOMPARE(rec.status, std::string("cancelled"));
    QCOMPARE(int64_t(rec.steps.size()), int64_t(2));
    const StepRecord& s1 = rec.steps.at(1);
    QCOMPARE(int64_t(s1.rollouts.size()), int64_t(8));
    for (const char* k : {"reward_mean",
                          "reward_std",
                          "accuracy",
                          "zero_std_frac",
                          "completion_len_mean",
                          "completion_len_min",
                          "completion_len_max",
                          "truncated_frac",
                          "kl",
                          "entropy",
                          "clip_low_frac",
                          "clip_high_frac",
                          "policy_loss",
                          "grad_norm",
                          "lr",
                          "rollout_tokens_per_s",
                          "train_tokens_per_s",
                          "generation_s",
                          "update_s",
                          "memory_bytes",
                          "reward_arithmetic",
                          "reward_format"})
      QVERIFY2(s1.metrics.contains(k), k);
    for (const RolloutRecord& r : s1.rollouts) {
      QVERIFY(!r.tokens.empty());
      QCOMPARE(r.logprobs.size(), r.tokens.size());
      for (float lp : r.logprobs) QVERIFY(lp <= 0.0f && std::isfinite(lp));
    }
    QVERIFY(!rec.ckpts.empty());
    QCOMPARE(rec.ckpts.back().first, int64_t(2));

    o.cancel = nullptr;
    o.on_step = nullptr;
    o.resume = rec.ckpts.back().second;
    o.resume_run_id = 1;
    const GrpoRunResult b = run_grpo(o);
    QCOMPARE(b.first_step, int64_t(3));
    QCOMPARE(b.last_step, int64_t(4));
    QCOMPARE(int64_t(rec.steps.size()), int64_t(4));
    QCOMPARE(rec.status, std::string("finished"));
  }

  void builtin_model_solves_its_task() {
    const auto model_dir = std::filesystem::path(R1WB_SOURCE_DIR) / "resources" / "models" / "r1-tiny";
    const EvalResult e =
        evaluate(model_dir, TaskConfig::preset("countdown", "easy"), 40, 96, TrainDevice::Cpu);
    qInfo("r1-tiny on 40 held-out easy Countdown problems: accuracy %.3f, format %.3f", e.accuracy,
          e.format_rate);
    QCOMPARE(e.n, int64_t(40));
    QVERIFY(e.format_rate > 0.9);
    QVERIFY2(e.accuracy > 0.4, "the built-in model should solve most easy Countdown problems (71.6% on 500)");
  }

  void builtin_model_matches_transformers() {
    // tests/fixtures/r1_tiny: transformers 5.17's logits for r1-tiny (DeepseekV3ForCausalLM, fp32) on 16 ids.
    const auto model =
        load_model(std::filesystem::path(R1WB_SOURCE_DIR) / "resources" / "models" / "r1-tiny");
    const NpyArray prompt = read_npy(fixtures() / "r1_tiny" / "prompt.npy");
    const NpyArray ref = read_npy(fixtures() / "r1_tiny" / "logits.npy");
    std::vector<int32_t> ids;
    for (int64_t v : prompt.to_i64()) ids.push_back(int32_t(v));
    RuntimeOptions ro;
    auto rt = create_runtime(model, ro);
    const SequenceInput in{0, ids, true};
    std::vector<float> logits(ids.size() * size_t(model->config.vocab_size));
    rt->forward(std::span<const SequenceInput>(&in, 1), logits.data());
    QCOMPARE(int64_t(logits.size()), numel(ref.shape));
    double worst = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, double(std::abs(logits[i] - ref.f32()[i])));
    qInfo("r1-tiny logits vs transformers: max abs diff %.2e", worst);
    QVERIFY(worst < 1e-4);
  }

  void distill_keeps_only_verified_traces() {
    TempDir tmp;
    const auto tiny = std::filesystem::path(R1WB_SOURCE_DIR) / "resources" / "models" / "r1-tiny";
    DistillOptions o;
    o.teacher_dir = tiny, o.student_dir = tiny;
    o.task = "countdown", o.difficulty = "easy";
    o.prompts = 8, o.samples_per_prompt = 2, o.max_completion = 96, o.temperature = 0.7f;
    o.traces_jsonl = tmp / "traces.jsonl";
    o.sft.steps = 2, o.sft.batch = 4, o.sft.seq = 160, o.sft.lr = 1e-4;
    const DistillResult r = run_distill(o);
    QCOMPARE(r.generated, int64_t(16));
    QVERIFY(r.kept > 0 && r.kept <= 16);
    const auto problems = make_problems(TaskConfig::preset("countdown", "easy"), 8, 0);
    std::ifstream f(tmp / "traces.jsonl");
    int64_t lines = 0;
    for (std::string line; std::getline(f, line); ++lines) {
      const auto j = nlohmann::json::parse(line);
      const auto it = std::find_if(problems.begin(), problems.end(), [&](const Problem& p) {
        return p.prompt == j["prompt"].get<std::string>();
      });
      QVERIFY(it != problems.end());
      QVERIFY(is_correct(*it, Completion::from_text(j["completion"].get<std::string>())));
    }
    QCOMPARE(lines, r.kept);
    QCOMPARE(r.sft.last_step, int64_t(2));
  }

  void bad_options_are_refused() {
    GrpoRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.group_size = 1;
    R1_EXPECT_ERROR(run_grpo(o), "group size");
    o.group_size = 2;
    o.task = "sudoku";
    R1_EXPECT_ERROR(run_grpo(o), "sudoku");
    o.task = "countdown";
    o.rewards = "countdown:1,bogus:2";
    R1_EXPECT_ERROR(run_grpo(o), "bogus");
  }
};

QTEST_APPLESS_MAIN(TestGrpo)
#include "tst_grpo.moc"
