// The NCCL gradient sum on the GPUs present: NCCL loads, a one-rank group's sum leaves a step exactly as a
// trainer without it would take it (the buckets, events and streams of the overlap run for real), and runs
// that ask for more GPUs than there are are refused by name.
#include <algorithm>
#include <cmath>

#include "engine/core/error.h"
#include "engine/train/cuda/nccl_group.h"
#include "engine/train/data_parallel.h"
#include "engine/train/sft_run.h"
#include "testlib/gpu_test.h"
#include "testlib/test_support.h"
#include "testlib/train_batches.h"

using namespace r1;
using namespace r1::test;

class TestNcclSync : public QObject {
  Q_OBJECT
 private slots:
  void one_rank_sum_changes_nothing() {
    qInfo("NCCL %d", NcclGroup::version());
    const auto model = load_model(fixtures() / "train" / "qwen2-untied");
    TrainerOptions to;
    to.device = TrainDevice::Cuda;
    to.max_batch = 3, to.max_seq = 16;
    const TrainBatch b = random_train_batch(3, 16, model->config.vocab_size, 4);
    NcclGroup group(1);
    Team team(1);
    auto sync = group.gradient_sync(0, team);
    auto plain = make_trainer(*model, to), synced = make_trainer(*model, to);
    synced->set_gradient_sync(sync.get());
    OptimizerHyper h;
    // Both trainers accumulate some gradients with atomics, so their steps agree to rounding, not bitwise;
    // a bucket summed before its layer was done, or not waited for, would be off by far more.
    for (int step = 0; step < 3; ++step) {
      CrossEntropyObjective c1(b.weights.data(), b.weight_sum()), c2(b.weights.data(), b.weight_sum());
      plain->forward_backward(b, c1);
      sync->reduce_in_next_backward();
      synced->forward_backward(b, c2);
      const double n1 = plain->optimizer_step(h, 1e-3), n2 = synced->optimizer_step(h, 1e-3);
      qInfo("step %d: gradient norm %.9f (alone) %.9f (through NCCL)", step + 1, n1, n2);
      QVERIFY(std::abs(n1 - n2) <= 1e-6 * n1);
    }
    const std::vector<float> p1 = plain->parameters(), p2 = synced->parameters();
    double worst = 0;
    for (size_t i = 0; i < p1.size(); ++i) worst = std::max(worst, double(std::abs(p1[i] - p2[i])));
    qInfo("parameters after 3 steps differ by at most %.2e", worst);
    QVERIFY(worst < 1e-5);
    R1_EXPECT_ERROR(group.gradient_sync(0, team), "already in use");
  }

  void more_gpus_than_present_are_refused() {
    const int have = cuda_device_count();
    const std::string group_error = cat("asked for ", have + 1, " GPUs but ", have),
                      run_error = cat("--gpus ", have + 1, " needs ", have + 1, " CUDA devices; ", have);
    R1_EXPECT_ERROR(NcclGroup(have + 1), group_error.c_str());
    SftRunOptions o;
    o.model_dir = fixtures() / "models" / "qwen2-tied";
    o.data_path = fixtures() / "sft" / "missing.jsonl";
    o.device = TrainDevice::Cuda;
    o.gpus = have + 1;
    R1_EXPECT_ERROR(run_sft(o), run_error.c_str());
  }
};

R1_GPU_TEST_MAIN(TestNcclSync)
#include "tst_nccl_sync.moc"
