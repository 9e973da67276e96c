// The Fine-tune page under QT_QPA_PLATFORM=offscreen, on the built-in r1-tiny with tiny settings: a short run
// fills the plots with the figures the store holds for its steps; Pause holds the run at a step boundary,
// Resume continues it and Stop ends it as cancelled; the metrics export as CSV and the plots as PNG and PDF;
// a stored run reopens into the plots and a second overlays it; a bad model folder shows the engine's error
// and the next Start works; an engine error after the run began leaves it failed in the store; long runs
// keep every point while the plots draw a decimated copy.
#include <qcustomplot.h>
#include <QDir>
#include <QFile>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTreeWidget>
#include <QtTest/QtTest>
#include <cmath>

#include "chat/chat_page.h"
#include "core/finetune_options.h"
#include "core/finetune_session.h"
#include "core/run_store.h"
#include "finetune/finetune_form.h"
#include "finetune/finetune_page.h"
#include "finetune/metric_plots_panel.h"
#include "finetune/past_runs_panel.h"
#include "finetune/run_series.h"
#include "main_window.h"
#include "memory/memory_page.h"
#include "testlib/test_support.h"
#include "traces/traces_page.h"

using namespace r1::ui;
using State = r1::app::FinetuneSession::State;

namespace {

constexpr int kRunTimeoutMs = 60000;

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

// Metrics whose values differ from step to step (timings included), so matching them ties each plotted
// point to its own stored step.
const QStringList kCheckedKeys = {QStringLiteral("reward_mean"),  QStringLiteral("completion_len_mean"),
                                  QStringLiteral("entropy"),      QStringLiteral("policy_loss"),
                                  QStringLiteral("generation_s"), QStringLiteral("update_s")};

}  // namespace

class TestFinetune : public QObject {
  Q_OBJECT

  std::unique_ptr<r1::test::TempDir> tmp_;
  QString model_;
  int stores_ = 0;

  QString freshStore() { return qpath(*tmp_ / ("runs" + std::to_string(++stores_) + ".sqlite")); }

  r1::app::FinetuneOptions tiny(int steps, quint64 seed = 1) const {
    r1::app::FinetuneOptions o = FinetuneForm::defaults();
    o.model_dir = model_;
    o.group_size = 2;
    o.prompts_per_step = 2;
    o.max_completion = 8;
    o.steps = steps;
    o.seed = seed;
    return o;
  }

  static std::unique_ptr<FinetunePage> page(const QString& store) {
    auto p = std::make_unique<FinetunePage>(store);
    p->resize(1300, 850);
    p->show();
    return p;
  }

  // Starts a run with the Start button and waits for it to end; returns the run's id (0 on failure).
  static qint64 runToEnd(FinetunePage& p, const r1::app::FinetuneOptions& o) {
    p.form()->setOptions(o);
    p.form()->setCheckpointsWanted(false);
    QSignalSpy finished(p.session(), &r1::app::FinetuneSession::finished);
    QTest::mouseClick(p.startButton(), Qt::LeftButton);
    if (!finished.wait(kRunTimeoutMs)) return 0;
    return p.session()->runId();
  }

  // Every point of the shown (slot 0) or overlaid (slot 1) run's graphs equals the store's step.
  static void compareWithStore(MetricPlotsPanel& plots, const QVector<r1::app::StepEntry>& steps, int slot) {
    for (const QString& key : kCheckedKeys) {
      QCPGraph* g = plots.graph(key, slot);
      QVERIFY2(g, qPrintable(key));
      QTRY_COMPARE_WITH_TIMEOUT(g->data()->size(), int(steps.size()), 5000);
      for (int i = 0; i < steps.size(); ++i) {
        QCOMPARE(g->data()->at(i)->key, double(steps[i].step));
        QCOMPARE(g->data()->at(i)->value, steps[i].metrics.value(key).toDouble());
      }
    }
  }

 private slots:
  void initTestCase() {
    tmp_ = std::make_unique<r1::test::TempDir>();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, qpath(*tmp_ / "settings"));
    QStandardPaths::setTestModeEnabled(true);
    model_ = r1::app::builtinModelDir();
    QVERIFY2(!model_.isEmpty(), "resources/models/r1-tiny is missing");
  }

  void formOpensOnTheDemoPreset() {
    FinetuneForm form;
    const r1::app::FinetuneOptions o = form.options();
    QCOMPARE(o.model_dir, r1::app::demoStartModelDir());
    QCOMPARE(o.model_dir, QDir(model_).filePath(QStringLiteral("sft-500")));
    QCOMPARE(o.task, QStringLiteral("countdown"));
    QCOMPARE(o.difficulty, QStringLiteral("easy200"));
    QCOMPARE(o.group_size, 8);
    QCOMPARE(o.prompts_per_step, 16);
    QCOMPARE(o.max_completion, 64);
    QCOMPARE(o.lr, 1e-4);
    QCOMPARE(o.loss, QStringLiteral("dapo"));
    QCOMPARE(o.epsilon_high, 0.28);
    QCOMPARE(o.steps, 50);
    QCOMPARE(o.device, QStringLiteral("cpu"));
    QCOMPARE(o.rewards, r1::app::defaultRewardSpec(QStringLiteral("countdown")));
  }

  void shortRunUpdatesThePlotsAndTheStore() {
    const QString store_path = freshStore();
    auto p = page(store_path);
    QVERIFY(p->startButton()->isEnabled());
    QVERIFY(!p->pauseButton()->isEnabled() && !p->stopButton()->isEnabled());
    p->form()->setOptions(tiny(4));
    p->form()->setCheckpointsWanted(false);
    QSignalSpy finished(p->session(), &r1::app::FinetuneSession::finished);
    QTest::mouseClick(p->startButton(), Qt::LeftButton);
    QVERIFY(!p->startButton()->isEnabled());
    QVERIFY(p->stopButton()->isEnabled());
    // The plots fill while the run goes on.
    QTRY_VERIFY_WITH_TIMEOUT(p->plots()->graph(QStringLiteral("reward_mean"))->data()->size() >= 2,
                             kRunTimeoutMs);
    QVERIFY(finished.wait(kRunTimeoutMs));
    QCOMPARE(finished.first().at(0).toString(), QStringLiteral("finished"));
    QVERIFY(p->startButton()->isEnabled());

    const qint64 run_id = p->session()->runId();
    QVERIFY(run_id > 0);
    r1::app::RunStore store(store_path);
    const std::optional<r1::app::RunInfo> info = store.run(run_id);
    QVERIFY(info);
    QCOMPARE(info->status, QStringLiteral("finished"));
    QCOMPARE(info->kind, QStringLiteral("grpo"));
    const QVector<r1::app::StepEntry> steps = store.steps(run_id);
    QCOMPARE(steps.size(), 4);
    compareWithStore(*p->plots(), steps, 0);
    QCOMPARE(p->progress()->value(), 4);
    QCOMPARE(p->progress()->maximum(), 4);
    QVERIFY(p->pastRuns()->select(run_id));
    QVERIFY(!p->logText().isEmpty());

    // CSV: a header row, then one row per step with the stored figures.
    const QString csv_path = qpath(*tmp_ / "metrics.csv");
    QVERIFY(p->plots()->exportCsv(csv_path));
    QFile csv(csv_path);
    QVERIFY(csv.open(QIODevice::ReadOnly | QIODevice::Text));
    const QStringList lines = QString::fromUtf8(csv.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 1 + 4);
    const QStringList header = lines[0].split(QLatin1Char(','));
    QCOMPARE(header.mid(0, 2), QStringList({QStringLiteral("run_id"), QStringLiteral("step")}));
    const int entropy = int(header.indexOf(QStringLiteral("entropy")));
    QVERIFY(entropy > 1);
    for (int i = 0; i < 4; ++i) {
      const QStringList cells = lines[i + 1].split(QLatin1Char(','));
      QCOMPARE(cells.size(), header.size());
      QCOMPARE(cells[0].toLongLong(), run_id);
      QCOMPARE(cells[1].toLongLong(), steps[i].step);
      QCOMPARE(cells[entropy].toDouble(), steps[i].metrics.value(QStringLiteral("entropy")).toDouble());
    }

    // Each plot as PNG and as PDF.
    for (const QString& format : {QStringLiteral("png"), QStringLiteral("pdf")}) {
      const QString dir = qpath(*tmp_ / ("plots-" + format.toStdString()));
      QString error;
      QVERIFY2(p->plots()->exportPlots(dir, format, &error), qPrintable(error));
      const QFileInfoList files = QDir(dir).entryInfoList({QStringLiteral("*.") + format}, QDir::Files);
      QCOMPARE(files.size(), p->plots()->plots().size());
      for (const QFileInfo& f : files) QVERIFY2(f.size() > 1000, qPrintable(f.filePath()));
    }
  }

  void pauseHoldsResumeContinuesStopCancels() {
    const QString store_path = freshStore();
    auto p = page(store_path);
    p->form()->setOptions(tiny(500));
    p->form()->setCheckpointsWanted(false);
    QSignalSpy finished(p->session(), &r1::app::FinetuneSession::finished);
    QTest::mouseClick(p->startButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(p->plots()->run().size() >= 1, kRunTimeoutMs);

    QTest::mouseClick(p->pauseButton(), Qt::LeftButton);
    QVERIFY(!p->pauseButton()->isEnabled());
    QVERIFY(p->resumeButton()->isEnabled());
    QTRY_COMPARE_WITH_TIMEOUT(p->session()->state(), State::Paused, kRunTimeoutMs);
    const int held = p->plots()->run().size();
    QSignalSpy more(p->session(), &r1::app::FinetuneSession::stepMetrics);
    // Several tiny steps' worth of time: none may arrive while paused.
    QVERIFY(!more.wait(1500));
    QCOMPARE(p->plots()->run().size(), held);
    QVERIFY(p->statusText().contains(QString::number(held)));
    {
      r1::app::RunStore store(store_path);
      QCOMPARE(store.lastStep(p->session()->runId()), qint64(held));
      QCOMPARE(store.run(p->session()->runId())->status, QStringLiteral("running"));
    }

    QTest::mouseClick(p->resumeButton(), Qt::LeftButton);
    QVERIFY(p->pauseButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(p->plots()->run().size() >= held + 2, kRunTimeoutMs);

    QTest::mouseClick(p->stopButton(), Qt::LeftButton);
    QVERIFY(!p->stopButton()->isEnabled());
    QVERIFY(finished.wait(kRunTimeoutMs));
    QCOMPARE(finished.first().at(0).toString(), QStringLiteral("cancelled"));
    QVERIFY(p->startButton()->isEnabled());
    r1::app::RunStore store(store_path);
    const qint64 run_id = p->session()->runId();
    QCOMPARE(store.run(run_id)->status, QStringLiteral("cancelled"));
    const qint64 last = store.lastStep(run_id);
    QVERIFY(last >= held + 2 && last < 500);
    QCOMPARE(qint64(p->plots()->run().size()), last);
  }

  void storedRunsReopenAndOverlay() {
    const QString store_path = freshStore();
    qint64 first = 0, second = 0;
    {
      auto p = page(store_path);
      first = runToEnd(*p, tiny(3, 1));
      second = runToEnd(*p, tiny(2, 2));
    }
    QVERIFY(first > 0 && second > 0 && first != second);
    r1::app::RunStore store(store_path);

    auto p = page(store_path);  // a new window on the same store
    QCOMPARE(p->pastRuns()->list()->topLevelItemCount(), 2);
    QVERIFY(p->plots()->run().isEmpty());
    QVERIFY(p->pastRuns()->select(first));
    QTest::mouseClick(p->findChild<QPushButton*>(QStringLiteral("openRun")), Qt::LeftButton);
    QCOMPARE(p->plots()->run().runId(), first);
    compareWithStore(*p->plots(), store.steps(first), 0);

    QVERIFY(p->pastRuns()->select(second));
    QTest::mouseClick(p->findChild<QPushButton*>(QStringLiteral("overlayRun")), Qt::LeftButton);
    QVERIFY(p->plots()->hasOverlay());
    compareWithStore(*p->plots(), store.steps(second), 1);
    compareWithStore(*p->plots(), store.steps(first), 0);
    const QColor shown = p->plots()->graph(QStringLiteral("entropy"), 0)->pen().color();
    const QColor overlaid = p->plots()->graph(QStringLiteral("entropy"), 1)->pen().color();
    QVERIFY(shown != overlaid);

    QTest::mouseClick(p->findChild<QPushButton*>(QStringLiteral("clearOverlay")), Qt::LeftButton);
    QVERIFY(!p->plots()->hasOverlay());
    QTRY_VERIFY(p->plots()->graph(QStringLiteral("entropy"), 1)->data()->isEmpty());
  }

  void badModelFolderShowsTheErrorAndTheNextStartWorks() {
    const QString store_path = freshStore();
    auto p = page(store_path);
    const QString empty = qpath(*tmp_ / "not-a-model");
    QVERIFY(QDir().mkpath(empty));
    r1::app::FinetuneOptions bad = tiny(2);
    bad.model_dir = empty;
    p->form()->setOptions(bad);
    QSignalSpy failed(p->session(), &r1::app::FinetuneSession::failed);
    QTest::mouseClick(p->startButton(), Qt::LeftButton);
    QVERIFY(failed.wait(kRunTimeoutMs));
    QVERIFY(p->errorVisible());
    QVERIFY2(p->errorText().contains(QStringLiteral("not-a-model")), qPrintable(p->errorText()));
    QVERIFY(p->startButton()->isEnabled());
    QVERIFY(p->form()->isEnabled());

    const qint64 run_id = runToEnd(*p, tiny(2));
    QVERIFY(run_id > 0);
    QVERIFY(!p->errorVisible());
    r1::app::RunStore store(store_path);
    QCOMPARE(store.run(run_id)->status, QStringLiteral("finished"));
    QCOMPARE(store.runs().size(), 1);  // the failed start never began a run
  }

  void engineErrorAfterTheRunBeganMarksItFailed() {
    // Checkpoints cannot go under a regular file: the run records its step, then fails saving.
    const QString store_path = freshStore();
    const QString blocker = qpath(*tmp_ / "a-file");
    r1::test::write_bytes(*tmp_ / "a-file", "not a folder");
    r1::app::FinetuneSession session(store_path);
    r1::app::FinetuneOptions o = tiny(1);
    o.out_dir = blocker + QStringLiteral("/checkpoints");
    QSignalSpy failed(&session, &r1::app::FinetuneSession::failed);
    QSignalSpy steps(&session, &r1::app::FinetuneSession::stepMetrics);
    QVERIFY(session.start(o));
    QVERIFY(!session.start(o));  // one run at a time
    QVERIFY(failed.wait(kRunTimeoutMs));
    QVERIFY2(failed.first().at(0).toString().contains(QStringLiteral("a-file")),
             qPrintable(failed.first().at(0).toString()));
    QCOMPARE(steps.size(), 1);
    QCOMPARE(session.state(), State::Idle);
    r1::app::RunStore store(store_path);
    QVERIFY(session.runId() > 0);
    QCOMPARE(store.run(session.runId())->status, QStringLiteral("failed"));
    QCOMPARE(store.lastStep(session.runId()), qint64(1));
  }

  void longRunsKeepEveryPointAndDrawADecimatedCopy() {
    MetricPlotsPanel panel;
    panel.resize(900, 600);
    panel.show();
    RunSeries run(7, QStringLiteral("long"));
    constexpr int kSteps = 20000;
    constexpr int kSpike = 12345;
    for (int s = 1; s <= kSteps; ++s) {
      QJsonObject m{{QStringLiteral("step"), s},
                    {QStringLiteral("kl"), s == kSpike ? 5.0 : 0.01 * std::sin(s * 0.01)}};
      run.append(m);
    }
    panel.setRun(run);
    panel.refreshNow();
    QCOMPARE(panel.run().size(), kSteps);
    QCOMPARE(panel.run().column(QStringLiteral("kl")).size(), kSteps);
    QCPGraph* kl = panel.graph(QStringLiteral("kl"));
    QVERIFY(kl->data()->size() <= MetricPlotsPanel::kMaxPlotPoints);
    QVERIFY(kl->data()->size() >= MetricPlotsPanel::kMaxPlotPoints / 2);
    bool found = false;
    const QCPRange values = kl->data()->valueRange(found);
    QVERIFY(found);
    QCOMPARE(values.upper, 5.0);  // the spike survives decimation
    QCOMPARE(kl->data()->constBegin()->key, 1.0);
    QVERIFY((kl->data()->constEnd() - 1)->key > kSteps - 20);
  }

  void windowShowsTheFinetuneTabBetweenChatAndMemory() {
    MainWindowOptions o;
    o.store_path = freshStore();
    o.load_model = false;
    o.restore_layout = false;
    MainWindow w(o);
    QVERIFY(w.finetunePage());
    QCOMPARE(w.pages()->indexOf(w.chatPage()), 0);
    QCOMPARE(w.pages()->indexOf(w.finetunePage()), 1);
    QCOMPARE(w.pages()->tabText(1), QStringLiteral("Fine-tune"));
    QCOMPARE(w.pages()->indexOf(w.tracesPage()), 2);
    QCOMPARE(w.pages()->indexOf(w.memoryPage()), 3);
  }
};

QTEST_MAIN(TestFinetune)
#include "tst_finetune.moc"
