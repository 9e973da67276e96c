// Data parallelism on CPU ranks (threads in this process, gradients summed in memory): the team's exchanges
// and abort, the gradient buckets, that two ranks give the gradients, losses and rollouts of one rank on
// the same global batch, and that a failing rank stops the run with its checkpoint intact.
#include <QtTest/QtTest>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "engine/core/error.h"
#include "engine/grpo/grpo_run.h"
#include "engine/train/checkpoint.h"
#include "engine/train/data_parallel.h"
#include "engine/train/sft_run.h"
#include "testlib/data_parallel_runs.h"
#include "testlib/test_support.h"
#include "testlib/train_batches.h"

using namespace r1;
using namespace r1::test;

namespace {

double rel_diff(double a, double b) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-12});
}

// GRPO on the built-in r1-tiny, which solves part of its Countdown problems: the rewards in a group differ,
// so the comparisons cover real updates.
GrpoRunOptions small_grpo() {
  GrpoRunOptions o;
  o.model_dir = std::filesystem::path(R1WB_SOURCE_DIR) / "resources" / "models" / "r1-tiny";
  o.task = "countdown", o.difficulty = "hard";
  o.temperature = 1.6f;
  o.group_size = 4, o.prompts_per_step = 4, o.max_completion = 48, o.steps = 3, o.lr = 2e-5;
  o.mu = 2;
  o.loss.beta = 0.05;
  o.micro_batch = 3;
  o.seed = 5;
  return o;
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

}  // namespace

class TestDataParallel : public QObject {
  Q_OBJECT
 private slots:
  void team_gathers_in_rank_order_and_stops_on_abort() {
    Team team(3);
    std::vector<std::vector<int>> got(3);
    std::vector<std::thread> threads;
    for (int r = 0; r < 3; ++r)
      threads.emplace_back([&, r] {
        for (int round = 0; round < 50; ++round) {
          const auto v = team.all_gather(r, r * 100 + round);
          if (round == 49) got[size_t(r)] = v;
        }
      });
    for (auto& t : threads) t.join();
    for (int r = 0; r < 3; ++r) QCOMPARE(got[size_t(r)], (std::vector<int>{49, 149, 249}));

    // Ranks 0 and 1 wait at a barrier that rank 2 never reaches: its abort releases them with its reason.
    Team t2(3);
    std::atomic<int> stopped{0};
    std::string reason;
    std::vector<std::thread> waiting;
    for (int r = 0; r < 2; ++r)
      waiting.emplace_back([&, r] {
        try {
          t2.barrier(r);
        } catch (const TeamAborted& e) {
          if (r == 0) reason = e.what();
          ++stopped;
        }
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    t2.abort(2, "disk full");
    for (auto& t : waiting) t.join();
    QCOMPARE(stopped.load(), 2);
    QVERIFY2(reason.find("rank 2 failed: disk full") != std::string::npos, reason.c_str());
    R1_EXPECT_ERROR(t2.barrier(0), "rank 2 failed");
  }

  void buckets_cover_the_block_in_backward_order() {
    for (const char* name : {"qwen2-tied", "qwen2-untied"}) {
      const auto model =
          load_model(fixtures() / (std::string(name) == "qwen2-tied" ? "models" : "train") / name);
      const ParamLayout layout = make_param_layout(model->config);
      const std::vector<GradBucket> b = gradient_buckets(layout);
      QCOMPARE(int64_t(b.size()), int64_t(layout.layers.size()) + 2);
      QCOMPARE(b.front().offset, layout.final_norm);  // the head first
      QCOMPARE(b.back().offset, int64_t(0));          // the embedding last
      // Consecutive buckets, read backwards, tile [0, total).
      int64_t at = 0;
      for (auto it = b.rbegin(); it != b.rend(); ++it) {
        QCOMPARE(it->offset, at);
        at += it->count;
      }
      QCOMPARE(at, layout.total);
      // Layer l's bucket holds exactly its tensors.
      for (size_t l = 0; l < layout.layers.size(); ++l) {
        const GradBucket& lb = b[b.size() - 2 - l];
        QCOMPARE(lb.offset, layout.layers[l].attn_norm);
      }
    }
  }

  // Two ranks, each with half of a batch, sum to the gradient of the whole batch on one trainer.
  void two_ranks_sum_to_the_gradient_of_the_whole_batch() {
    const auto model = load_model(fixtures() / "train" / "qwen2-untied");
    TrainerOptions to;
    to.max_batch = 4, to.max_seq = 12;
    const TrainBatch full = random_train_batch(4, 12, model->config.vocab_size, 7);
    const double norm = full.weight_sum();
    auto single = make_trainer(*model, to);
    CrossEntropyObjective ce(full.weights.data(), norm);
    single->forward_backward(full, ce);
    const std::vector<float> want = single->gradients();

    std::vector<std::vector<float>> got(2);
    run_ranks(2, TrainDevice::Cpu, [&](RankContext& ctx) {
      TrainerOptions half = to;
      half.max_batch = 2;
      auto trainer = make_trainer(*model, half);
      trainer->set_gradient_sync(ctx.sync);
      const TrainBatch mine = full.rows(2 * ctx.rank, 2 * ctx.rank + 2);
      CrossEntropyObjective part(mine.weights.data(), norm);
      ctx.sync->reduce_in_next_backward();
      trainer->forward_backward(mine, part);
      ctx.sync->finish();
      got[size_t(ctx.rank)] = trainer->gradients();
    });
    QCOMPARE(got[0], got[1]);  // every rank holds the same sum, bit for bit
    double worst = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, double(std::abs(got[0][i] - want[i])));
      scale = std::max(scale, double(std::abs(want[i])));
    }
    qInfo("summed gradient vs whole batch: max abs diff %.2e (largest %.2e)", worst, scale);
    QVERIFY(scale > 0);
    QVERIFY(worst <= 1e-5 * scale);
  }

  void sft_on_two_ranks_matches_one() {
    TempDir tmp;
    SftRunOptions o = sum_sft(tmp.path(), 32);
    std::vector<double> norms1, norms2;
    o.on_step = [&](const SftStepMetrics& m) { norms1.push_back(m.grad_norm); };
    const SftRunResult one = run_sft(o);
    o.gpus = 2;
    o.out_dir = tmp / "two";
    o.metrics_jsonl = tmp / "two.jsonl";
    o.on_step = [&](const SftStepMetrics& m) { norms2.push_back(m.grad_norm); };
    const SftRunResult two = run_sft(o);
    QCOMPARE(two.losses.size(), one.losses.size());
    for (size_t i = 0; i < one.losses.size(); ++i) {
      qInfo("step %zu: loss %.6f (1 rank) %.6f (2 ranks), grad norm %.5f / %.5f", i + 1, one.losses[i],
            two.losses[i], norms1[i], norms2[i]);
      QVERIFY(rel_diff(one.losses[i], two.losses[i]) < 1e-4);
      QVERIFY(rel_diff(norms1[i], norms2[i]) < 1e-3);
    }
    QVERIFY(one.losses.back() < one.losses.front());
    // Only the leader writes: one metrics line per step, one final checkpoint.
    std::ifstream mf(tmp / "two.jsonl");
    std::string line;
    int lines = 0;
    while (std::getline(mf, line)) ++lines;
    QCOMPARE(lines, 6);
    QVERIFY(!two.last_checkpoint.empty());
    QVERIFY(std::filesystem::exists(two.last_checkpoint / "model.safetensors"));
    R1_EXPECT_ERROR(([&] {
                      SftRunOptions bad = o;
                      bad.batch = 3;
                      return run_sft(bad);
                    }()),
                    "split evenly");
  }

  void grpo_on_two_ranks_matches_one() {
    GrpoRunOptions o = small_grpo();
    const auto runs = grpo_on_one_and_two(o);
    const GrpoRunResult &one = runs->one, &two = runs->two;
    const MemoryRecorder &rec1 = runs->rec1, &rec2 = runs->rec2;
    QCOMPARE(two.metrics.size(), one.metrics.size());
    QCOMPARE(rec2.steps.size(), rec1.steps.size());
    for (size_t i = 0; i < one.metrics.size(); ++i) {
      const auto &a = one.metrics[i], &b = two.metrics[i];
      qInfo("step %zu: reward %.4f / %.4f, loss %.6f / %.6f, kl %.2e / %.2e, grad norm %.5f / %.5f", i + 1,
            a["reward_mean"].get<double>(), b["reward_mean"].get<double>(), a["loss"].get<double>(),
            b["loss"].get<double>(), a["kl"].get<double>(), b["kl"].get<double>(),
            a["grad_norm"].get<double>(), b["grad_norm"].get<double>());
      // The same rollouts (each sequence samples its own stream), so the same rewards, exactly.
      const StepRecord &ra = rec1.steps.at(int64_t(i + 1)), &rb = rec2.steps.at(int64_t(i + 1));
      QCOMPARE(rb.rollouts.size(), ra.rollouts.size());
      for (size_t r = 0; r < ra.rollouts.size(); ++r) {
        QCOMPARE(rb.rollouts[r].tokens, ra.rollouts[r].tokens);
        QCOMPARE(rb.rollouts[r].reward, ra.rollouts[r].reward);
        QCOMPARE(rb.rollouts[r].logprobs.size(), ra.rollouts[r].logprobs.size());
      }
      QCOMPARE(b["reward_mean"].get<double>(), a["reward_mean"].get<double>());
      QVERIFY(rel_diff(a["loss"].get<double>(), b["loss"].get<double>()) < 1e-3);
      QVERIFY(rel_diff(a["grad_norm"].get<double>(), b["grad_norm"].get<double>()) < 1e-3);
      QVERIFY(std::abs(a["kl"].get<double>() - b["kl"].get<double>()) < 1e-5);
    }
    QCOMPARE(rec2.status, std::string("finished"));
    QCOMPARE(rec2.kinds.size(), size_t(1));  // one run recorded, by the leader
    o.prompts_per_step = 3, o.gpus = 2;
    R1_EXPECT_ERROR(run_grpo(o), "prompts per step (3)", "2 GPUs");
  }

  // Rank 1 fails at step 3 of a run that saves every 2 steps: the run stops with rank 1's error, the
  // record says failed, and the step-2 checkpoint is whole and loads.
  void failing_rank_stops_the_run_and_keeps_the_checkpoint() {
    TempDir tmp;
    MemoryRecorder rec;
    GrpoRunOptions o = small_grpo();
    o.steps = 4, o.save_every = 2;
    o.gpus = 2;
    o.out_dir = tmp / "run";
    o.recorder = &rec;
    {
      const ScopedEnv fault("R1WB_RANK_FAULT", "1:3");
      R1_EXPECT_ERROR(run_grpo(o), "rank 1", "injected failure of rank 1 at step 3");
    }
    QCOMPARE(rec.status, std::string("failed"));
    QCOMPARE(int64_t(rec.steps.size()), int64_t(2));
    QCOMPARE(rec.ckpts.size(), size_t(1));
    const LoadedCheckpoint ck = find_checkpoint(rec.ckpts.back().second);
    QCOMPARE(ck.state["grpo_step"].get<int64_t>(), int64_t(2));
    for (const auto& e : std::filesystem::directory_iterator(tmp / "run"))
      QVERIFY2(e.path().filename().string().find("partial") == std::string::npos, e.path().c_str());

    // The run resumes on two ranks from that checkpoint and finishes.
    o.resume = rec.ckpts.back().second;
    o.resume_run_id = 1;
    const GrpoRunResult r = run_grpo(o);
    QCOMPARE(r.first_step, int64_t(3));
    QCOMPARE(r.last_step, int64_t(4));
    QCOMPARE(rec.status, std::string("finished"));

    // The same for SFT, failing on the leader this time.
    SftRunOptions s = sum_sft(tmp.path(), 16);
    s.batch = 2, s.steps = 4, s.save_every = 1, s.gpus = 2, s.grad_accum = 1;
    s.out_dir = tmp / "sft";
    const ScopedEnv fault("R1WB_RANK_FAULT", "0:3");
    R1_EXPECT_ERROR(run_sft(s), "rank 0", "injected failure of rank 0 at step 3");
    const LoadedCheckpoint last = find_checkpoint(tmp / "sft");
    QCOMPARE(last.state["data_cursor"].is_null(), false);
  }

  void cancel_stops_every_rank() {
    GrpoRunOptions o = small_grpo();
    o.steps = 6, o.gpus = 2;
    std::atomic<bool> stop{false};
    o.cancel = &stop;
    o.on_step = [&](const nlohmann::json& m) {
      if (m["step"].get<int>() == 2) stop = true;
    };
    const GrpoRunResult r = run_grpo(o);
    QVERIFY(r.cancelled);
    QCOMPARE(r.last_step, int64_t(2));
  }

  void bad_rank_counts_are_refused() {
    GrpoRunOptions o = small_grpo();
    o.gpus = 0;
    R1_EXPECT_ERROR(run_grpo(o), "at least 1");
#ifndef R1WB_HAVE_CUDA
    o.gpus = 2, o.device = TrainDevice::Cuda;
    R1_EXPECT_ERROR(run_grpo(o), "no CUDA support");
#endif
  }
};

QTEST_GUILESS_MAIN(TestDataParallel)
#include "tst_data_parallel.moc"
