// The Memory page's training view under QT_QPA_PLATFORM=offscreen: the engine's PPO critic estimate and its
// accounting of a rollout runtime against hand-computed figures; the page given a run's memory draws one
// segment per kind at the given sizes, the critic ghosted on the PPO bar, and what GRPO saves; live updates
// move the KV segment and the chat view keeps working; a short fine-tune of r1-tiny reports the policy
// trainer's own plan, the reference's and the rollouts' sizes, and the page follows it.
#include <qcustomplot.h>
#include <QSignalSpy>
#include <QTabBar>
#include <QTabWidget>
#include <QtTest/QtTest>
#include <fstream>

#include "core/finetune_options.h"
#include "core/finetune_session.h"
#include "engine/grpo/memory_accounting.h"
#include "engine/model/model.h"
#include "engine/runtime/runtime.h"
#include "engine/train/trainer.h"
#include "format_util.h"
#include "memory/memory_page.h"
#include "testlib/test_support.h"

using namespace r1::ui;
using Seg = TrainingMemoryView::Segment;
using r1::app::TrainingMemory;

namespace {

constexpr int kRunTimeoutMs = 60000;

// The bytes every segment should show, from the fields (not through the view's own mapping).
QVector<qint64> expectedSegments(const TrainingMemory& m) {
  QVector<qint64> v(TrainingMemoryView::SegmentCount, 0);
  v[Seg::Weights] = m.weights_bytes + m.master_bytes + m.rollout_weights_bytes;
  v[Seg::Reference] = m.reference_bytes;
  v[Seg::Gradients] = m.grads_bytes;
  v[Seg::Optimizer] = m.optimizer_bytes;
  v[Seg::Activations] = m.activations_bytes;
  v[Seg::KvUsed] = m.kv_used_bytes;
  v[Seg::KvReserved] = m.kv_cache_bytes - m.kv_used_bytes;
  v[Seg::CriticWeights] = m.critic_weights_bytes;
  v[Seg::CriticGradients] = m.critic_grads_bytes;
  v[Seg::CriticOptimizer] = m.critic_optimizer_bytes;
  v[Seg::CriticActivations] = m.critic_activations_bytes;
  return v;
}

// A run of the 0.5B shape on CUDA, with a reference and a KV cache a third full.
TrainingMemory sampleMemory() {
  const r1::TrainMemoryPlan p =
      r1::plan_train_memory(r1::shape_config("qwen2.5-0.5b"), 8, 512, false, 512, 2, true, false, 1 << 20);
  TrainingMemory m;
  m.step = 0;
  m.parameters = p.parameters, m.batch = p.batch, m.seq = p.seq;
  m.weights_bytes = p.weights_bytes, m.master_bytes = p.master_bytes, m.grads_bytes = p.grads_bytes;
  m.optimizer_bytes = p.optimizer_bytes, m.activations_bytes = p.activations_bytes;
  m.reference_bytes = p.total_bytes();
  m.rollout_weights_bytes = p.parameters * 2;
  m.kv_cache_bytes = 96ll << 20;
  m.kv_used_bytes = 32ll << 20;
  m.critic_weights_bytes = p.weights_bytes + p.master_bytes, m.critic_grads_bytes = p.grads_bytes;
  m.critic_optimizer_bytes = p.optimizer_bytes, m.critic_activations_bytes = p.activations_bytes;
  return m;
}

void checkPlotted(const TrainingMemoryView& view, const TrainingMemory& m) {
  const QVector<qint64> want = expectedSegments(m);
  double grpo = 0, ppo = 0;
  for (int i = 0; i < TrainingMemoryView::SegmentCount; ++i) {
    const Seg s = Seg(i);
    const bool critic = s >= Seg::CriticWeights;
    QCOMPARE(view.plottedBytes(s, TrainingMemoryView::PpoBar), double(want[i]));
    QCOMPARE(view.plottedBytes(s, TrainingMemoryView::GrpoBar), critic ? 0.0 : double(want[i]));
    grpo += view.plottedBytes(s, TrainingMemoryView::GrpoBar);
    ppo += view.plottedBytes(s, TrainingMemoryView::PpoBar);
  }
  QCOMPARE(grpo, double(m.grpoTotal()));
  QCOMPARE(ppo, double(m.ppoTotal()));
  QVERIFY2(view.savesText().contains(formatBytes(double(m.ppoTotal() - m.grpoTotal()))),
           qPrintable(view.savesText()));
}

std::uint64_t safetensorsDataBytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char len[8] = {};
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | len[i];
  return std::filesystem::file_size(file) - 8 - header;
}

}  // namespace

class TestMemoryPage : public QObject {
  Q_OBJECT

  QString model_;

 private slots:
  void initTestCase() {
    model_ = r1::app::builtinModelDir();
    QVERIFY2(!model_.isEmpty(), "resources/models/r1-tiny is missing");
  }

  void criticEstimateMatchesPolicyPlan() {
    r1::TrainMemoryPlan policy;
    policy.parameters = 1000;
    policy.weights_bytes = 2000, policy.master_bytes = 4000, policy.grads_bytes = 4000;
    policy.optimizer_bytes = 8000, policy.activations_bytes = 12345;
    const r1::TrainMemoryPlan critic = r1::ppo_critic_estimate(policy);
    QCOMPARE(critic.weights_bytes, int64_t(2000));
    QCOMPARE(critic.master_bytes, int64_t(4000));
    QCOMPARE(critic.grads_bytes, int64_t(4000));
    QCOMPARE(critic.optimizer_bytes, int64_t(8000));
    QCOMPARE(critic.activations_bytes, int64_t(12345));

    r1::GrpoMemory m;
    m.policy = policy, m.critic = critic;
    m.reference_bytes = 500, m.rollout_weights_bytes = 300, m.kv_cache_bytes = 700;
    QCOMPARE(m.grpo_total_bytes(), int64_t(2000 + 4000 + 4000 + 8000 + 12345 + 500 + 300 + 700));
    QCOMPARE(m.saved_bytes(), int64_t(2000 + 4000 + 4000 + 8000 + 12345));
    QCOMPARE(m.ppo_total_bytes(), m.grpo_total_bytes() + m.saved_bytes());
  }

  void rolloutAccountingReadsTheRuntime() {
    const std::filesystem::path dir = model_.toStdString();
    const auto model = r1::load_model(dir);
    r1::RuntimeOptions ro;
    ro.max_sequences = 3, ro.max_context = 40;
    const auto rt = r1::create_runtime(model, ro);
    const r1::KvCacheStats kv = rt->kv_stats();
    QVERIFY(kv.bytes_per_token > 0);
    r1::GrpoMemory m;
    r1::account_rollout(m, *rt, 5);
    QCOMPARE(m.rollout_weights_bytes, int64_t(safetensorsDataBytes(dir / "model.safetensors")));
    QCOMPARE(m.kv_cache_bytes, kv.total_bytes);
    QCOMPARE(m.kv_used_bytes, 5 * kv.bytes_per_token);
    r1::account_rollout(m, *rt, 3 * 40 + 1);  // more than the cache holds: capped at its size
    QCOMPARE(m.kv_used_bytes, kv.total_bytes);
  }

  void pageShowsTrainingBreakdown() {
    MemoryPage page;
    page.resize(1200, 800);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    QVERIFY(!page.showsTraining());
    QVERIFY(!page.views()->tabBar()->isVisible());

    TrainingMemory m = sampleMemory();
    page.setTrainingMemory(m);
    QVERIFY(page.showsTraining());
    QVERIFY(page.views()->tabBar()->isVisible());
    checkPlotted(*page.trainingView(), m);
    QVERIFY(page.trainingView()->plot()->toolTip().contains(QStringLiteral("same weights")));

    // A later step's rollouts fill more of the cache: the KV segments follow, the rest stays.
    m.step = 1;
    m.kv_used_bytes = 80ll << 20;
    page.setTrainingMemory(m);
    checkPlotted(*page.trainingView(), m);
    QVERIFY(page.trainingView()->summaryText().contains(formatBytes(double(m.kv_used_bytes))));

    // The chat view still follows the KV cache, and a step of the same run leaves the chosen view alone.
    page.views()->setCurrentIndex(0);
    r1::app::ModelInfo info;
    info.name = QStringLiteral("tiny");
    info.device = QStringLiteral("cpu");
    info.kv.bytes_per_token = 1024, info.kv.bytes_per_token_layer = 256, info.kv.layers = 4;
    info.kv.capacity_tokens = 100, info.kv.used_tokens = 10, info.kv.total_bytes = 100 * 1024;
    page.setModel(info);
    QTRY_VERIFY(page.plottedUsedBytes() > 0);
    QCOMPARE(page.plottedUsedBytes(), double(info.kv.used_bytes()));
    m.step = 2;
    page.setTrainingMemory(m);
    QVERIFY(!page.showsTraining());
    m.step = 0;  // a new run
    page.setTrainingMemory(m);
    QVERIFY(page.showsTraining());
    QVERIFY(!page.grab().isNull());
  }

  void fineTuneReportsItsMemory_data() {
    QTest::addColumn<double>("beta");
    QTest::newRow("no reference") << 0.0;
    QTest::newRow("reference") << 0.04;
  }

  void fineTuneReportsItsMemory() {
    QFETCH(double, beta);
    r1::app::FinetuneOptions o;
    o.model_dir = model_;
    o.group_size = 2, o.prompts_per_step = 2, o.max_completion = 8, o.steps = 2;
    o.beta = beta;
    o.device = QStringLiteral("cpu");
    r1::app::FinetuneSession session;
    MemoryPage page;
    page.show();
    connect(&session, &r1::app::FinetuneSession::memoryPlanned, &page, &MemoryPage::setTrainingMemory);
    QSignalSpy memory(&session, &r1::app::FinetuneSession::memoryPlanned);
    QSignalSpy finished(&session, &r1::app::FinetuneSession::finished);
    QSignalSpy failed(&session, &r1::app::FinetuneSession::failed);
    QVERIFY(session.start(o));
    QVERIFY2(finished.wait(kRunTimeoutMs), failed.isEmpty() ? "no end" : qPrintable(failed[0][0].toString()));

    // Planned once the trainers exist, then after each step's rollouts.
    QCOMPARE(memory.count(), 1 + o.steps);
    const auto planned = memory[0][0].value<TrainingMemory>();
    QCOMPARE(planned.step, qint64(0));
    QCOMPARE(planned.batch, qint64(o.group_size * o.prompts_per_step));
    QVERIFY(planned.seq > o.max_completion);

    // The policy figures are the trainer's own plan for the same settings.
    const auto model = r1::load_model(model_.toStdString());
    r1::TrainerOptions to;
    to.max_batch = planned.batch, to.max_seq = planned.seq;
    const auto trainer = r1::make_trainer(*model, to);
    const r1::TrainMemoryPlan& plan = trainer->memory_plan();
    QVERIFY(plan.master_bytes > 0 && plan.activations_bytes > 0);
    QCOMPARE(planned.parameters, qint64(plan.parameters));
    QCOMPARE(planned.weights_bytes, qint64(plan.weights_bytes));
    QCOMPARE(planned.master_bytes, qint64(plan.master_bytes));
    QCOMPARE(planned.grads_bytes, qint64(plan.grads_bytes));
    QCOMPARE(planned.optimizer_bytes, qint64(plan.optimizer_bytes));
    QCOMPARE(planned.activations_bytes, qint64(plan.activations_bytes));
    QCOMPARE(planned.reference_bytes, beta > 0 ? qint64(plan.total_bytes()) : qint64(0));
    QCOMPARE(planned.criticTotal(), qint64(plan.total_bytes()));
    QCOMPARE(planned.kv_cache_bytes, qint64(0));

    for (int i = 1; i <= o.steps; ++i) {
      const auto m = memory[i][0].value<TrainingMemory>();
      QCOMPARE(m.step, qint64(i));
      QCOMPARE(m.master_bytes, qint64(plan.master_bytes));
      QVERIFY(m.rollout_weights_bytes >= plan.master_bytes);  // an fp32 copy of the trained weights
      QVERIFY(m.kv_cache_bytes > 0);
      QVERIFY(m.kv_used_bytes > 0 && m.kv_used_bytes <= m.kv_cache_bytes);
    }
    const auto last = memory.last()[0].value<TrainingMemory>();
    QVERIFY(page.showsTraining());
    checkPlotted(*page.trainingView(), last);
  }
};

QTEST_MAIN(TestMemoryPage)
#include "tst_memory_page.moc"
