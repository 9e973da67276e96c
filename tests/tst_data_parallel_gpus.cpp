// Data parallelism over two GPUs through NCCL: SFT and GRPO on two ranks against one rank with the same
// global batch, and a failing rank that stops the run with its checkpoint intact. Skipped (exit 77) on a
// machine with fewer than two GPUs.
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "engine/core/error.h"
#include "engine/grpo/grpo_run.h"
#include "engine/train/checkpoint.h"
#include "engine/train/sft_run.h"
#include "testlib/data_parallel_runs.h"
#include "testlib/gpu_test.h"
#include "testlib/test_support.h"

using namespace r1;
using namespace r1::test;

namespace {

double rel_diff(double a, double b) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-12});
}

SftRunOptions sft_options(const TempDir& tmp) {
  SftRunOptions o = sum_sft(tmp.path(), 64);
  o.device = TrainDevice::Cuda;
  o.batch = 8, o.seq = 32;
  return o;
}

}  // namespace

class TestDataParallelGpus : public QObject {
  Q_OBJECT
 private slots:
  void sft_on_two_gpus_matches_one() {
    TempDir tmp;
    SftRunOptions o = sft_options(tmp);
    const SftRunResult one = run_sft(o);
    o.gpus = 2;
    const SftRunResult two = run_sft(o);
    QCOMPARE(two.losses.size(), one.losses.size());
    for (size_t i = 0; i < one.losses.size(); ++i) {
      qInfo("step %zu: loss %.6f (1 GPU) %.6f (2 GPUs)", i + 1, one.losses[i], two.losses[i]);
      QVERIFY(rel_diff(one.losses[i], two.losses[i]) < 1e-2);  // bf16 GEMMs of 4 rows vs 8
    }
    QVERIFY(two.losses.back() < two.losses.front());
  }

  void grpo_on_two_gpus_matches_one() {
    GrpoRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.task = "arithmetic", o.difficulty = "easy";
    o.group_size = 4, o.prompts_per_step = 4, o.max_completion = 8, o.steps = 3, o.lr = 1e-4;
    o.device = TrainDevice::Cuda;
    o.seed = 2;
    const auto runs = grpo_on_one_and_two(o);
    const GrpoRunResult &one = runs->one, &two = runs->two;
    const MemoryRecorder &rec1 = runs->rec1, &rec2 = runs->rec2;
    QCOMPARE(two.metrics.size(), one.metrics.size());
    // Step 1 samples from the same weights: the same rollouts, group by group.
    const StepRecord &a = rec1.steps.at(1), &b = rec2.steps.at(1);
    QCOMPARE(b.rollouts.size(), a.rollouts.size());
    int same = 0;
    for (size_t r = 0; r < a.rollouts.size(); ++r) same += a.rollouts[r].tokens == b.rollouts[r].tokens;
    qInfo("step 1: %d of %zu rollouts identical on 1 and 2 GPUs", same, a.rollouts.size());
    QVERIFY(same >= int(a.rollouts.size()) * 3 / 4);
    for (size_t i = 0; i < one.metrics.size(); ++i)
      qInfo("step %zu: loss %.6f / %.6f, grad norm %.5f / %.5f", i + 1, one.metrics[i]["loss"].get<double>(),
            two.metrics[i]["loss"].get<double>(), one.metrics[i]["grad_norm"].get<double>(),
            two.metrics[i]["grad_norm"].get<double>());
    if (same == int(a.rollouts.size()))
      QVERIFY(rel_diff(one.metrics[0]["grad_norm"].get<double>(), two.metrics[0]["grad_norm"].get<double>()) <
              2e-2);
    QCOMPARE(rec2.status, std::string("finished"));
  }

  void failing_gpu_rank_stops_the_run() {
    TempDir tmp;
    SftRunOptions o = sft_options(tmp);
    o.gpus = 2, o.steps = 5, o.save_every = 2;
    o.out_dir = tmp / "run";
    setenv("R1WB_RANK_FAULT", "1:3", 1);
    bool thrown = false;
    try {
      run_sft(o);
    } catch (const Error& e) {
      thrown = true;
      qInfo("%s", e.what());
      QVERIFY(std::string(e.what()).find("rank 1") != std::string::npos);
    }
    unsetenv("R1WB_RANK_FAULT");
    QVERIFY(thrown);
    const LoadedCheckpoint ck = find_checkpoint(tmp / "run");
    QCOMPARE(ck.dir.filename().string().find("partial"), std::string::npos);
  }
};

R1_GPUS_TEST_MAIN(TestDataParallelGpus, 2)
#include "tst_data_parallel_gpus.moc"
