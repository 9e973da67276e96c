// A training run killed with SIGKILL at any moment leaves a store that opens, passes SQLite's integrity
// check, holds every step the writer saw committed with all of its rollouts and no step in part, and that a
// resumed run continues with contiguous step numbers.
#include <QProcess>
#include <QtTest/QtTest>

#include "core/run_store.h"
#include "core/store_recorder.h"
#include "store_check.h"
#include "testlib/test_support.h"

using r1::app::RunStore;
using r1::test::raw_query;

namespace {

constexpr int kPrompts = 4;
constexpr int kGroup = 4;
constexpr int kTokens = 1024;

QString store_file(const r1::test::TempDir& dir) {
  return QString::fromStdString((dir / "runs.sqlite").string());
}

// What store_writer writes for a rollout, and what an attempt to redo a step after resuming writes.
bool rollout_matches(const r1::app::RolloutEntry& r, qint64 step, int p, int g) {
  if (r.prompt_index != p || r.group_index != g || r.tokens.size() != kTokens || r.logprobs.size() != kTokens)
    return false;
  if (r.tokens[0] != step || r.tokens[1] != p || r.tokens[2] != g) return false;
  for (int i = 3; i < kTokens; ++i)
    if (r.tokens[i] != i) return false;
  for (int i = 0; i < kTokens; ++i)
    if (r.logprobs[i] != -float(i) / 8) return false;
  return r.reward == p + g / 10.0;
}

r1::StepRecord redo_step(int64_t step) {
  r1::StepRecord s;
  s.step = step;
  s.metrics = {{"step", step}, {"attempt", 2}};
  for (int p = 0; p < kPrompts; ++p)
    for (int g = 0; g < kGroup; ++g) {
      r1::RolloutRecord r;
      r.prompt_index = p;
      r.group_index = g;
      r.reward = p + g / 10.0;
      for (int i = 0; i < kTokens; ++i) {
        r.tokens.push_back(i == 0 ? int32_t(step) : i == 1 ? p : i == 2 ? g : i);
        r.logprobs.push_back(-float(i) / 8);
      }
      s.rollouts.push_back(std::move(r));
    }
  return s;
}

}  // namespace

class TestStoreCrash : public QObject {
  Q_OBJECT

 private slots:
  // Killed right after the report the writer is mostly building its next step; a few milliseconds later it
  // is as likely to be inside that step's transaction, which is what this test is about.
  void killedWriterLeavesWholeSteps_data() {
    QTest::addColumn<int>("committed");
    QTest::addColumn<int>("then_ms");
    for (int committed : {1, 7, 25})
      for (int then_ms : {0, 5, 20})
        QTest::addRow("%d steps reported, killed %d ms later", committed, then_ms) << committed << then_ms;
  }
  void killedWriterLeavesWholeSteps() {
    QFETCH(int, committed);
    QFETCH(int, then_ms);
    r1::test::TempDir dir;
    const QString path = store_file(dir);

    QProcess writer;
    writer.start(QString::fromStdString((r1::test::bin_dir() / "store_writer").string()),
                 {path, QString::number(kPrompts), QString::number(kGroup), QString::number(kTokens)});
    QVERIFY2(writer.waitForStarted(10000), qPrintable(writer.errorString()));
    qint64 run_id = 0;
    QVector<qint64> reported;
    auto read_lines = [&] {
      while (writer.canReadLine()) {
        const QList<QByteArray> words = writer.readLine().trimmed().split(' ');
        if (words.size() != 2) continue;
        if (words[0] == "run") run_id = words[1].toLongLong();
        if (words[0] == "step") reported.push_back(words[1].toLongLong());
      }
    };
    QElapsedTimer waited;
    waited.start();
    while (reported.size() < committed && writer.state() == QProcess::Running && waited.elapsed() < 60000) {
      writer.waitForReadyRead(1000);
      read_lines();
    }
    QVERIFY2(reported.size() >= committed,
             qPrintable(QStringLiteral("writer reported %1 steps; stderr: %2")
                            .arg(reported.size())
                            .arg(QString::fromLocal8Bit(writer.readAllStandardError()))));
    QTest::qSleep(then_ms);
    writer.kill();  // SIGKILL on Unix: no destructor, no SQLite close, possibly in the middle of a commit
    QVERIFY(writer.waitForFinished(10000));
    QCOMPARE(writer.exitStatus(), QProcess::CrashExit);
    read_lines();  // lines already in the pipe are commits too
    QVERIFY(run_id > 0);

    QCOMPARE(raw_query(path, QStringLiteral("PRAGMA integrity_check")), QStringList{QStringLiteral("ok")});
    QCOMPARE(raw_query(path, QStringLiteral("PRAGMA foreign_key_check")), QStringList{});
    QCOMPARE(raw_query(path, QStringLiteral(
                                 "SELECT COUNT(*) FROM rollouts r WHERE NOT EXISTS"
                                 " (SELECT 1 FROM steps s WHERE s.run_id = r.run_id AND s.step = r.step)")),
             QStringList{QStringLiteral("0")});

    qint64 last = 0;
    {
      RunStore store(path);
      QVERIFY(store.run(run_id).has_value());
      QCOMPARE(store.run(run_id)->status, QStringLiteral("running"));
      const auto steps = store.steps(run_id);
      last = store.lastStep(run_id);
      QVERIFY2(last >= reported.last(),
               qPrintable(
                   QStringLiteral("last stored step %1, writer reported %2").arg(last).arg(reported.last())));
      QCOMPARE(steps.size(), qsizetype(last));
      for (qsizetype i = 0; i < steps.size(); ++i) {
        const qint64 step = steps[i].step;
        QCOMPARE(step, qint64(i + 1));
        QCOMPARE(steps[i].metrics.value(QStringLiteral("step")).toInteger(), step);
        const auto rollouts = store.rollouts(run_id, step);
        QCOMPARE(rollouts.size(), qsizetype(kPrompts * kGroup));
        for (int k = 0; k < rollouts.size(); ++k)
          QVERIFY2(rollout_matches(rollouts[k], step, k / kGroup, k % kGroup),
                   qPrintable(QStringLiteral("step %1 rollout %2").arg(step).arg(k)));
      }
      for (const auto& c : store.checkpoints(run_id)) QVERIFY(c.step % 5 == 0 && c.step <= last);
    }

    // The resumed run goes back to its last checkpoint and redoes the steps after it, then goes on.
    r1::app::StoreRecorder recorder(path);
    QCOMPARE(recorder.resume_run(run_id), last);
    const int64_t from =
        recorder.last_checkpoint(run_id).value_or(std::pair<int64_t, std::string>{0, ""}).first;
    QVERIFY(from <= last && last - from <= 5);  // a checkpoint follows every fifth step
    for (int64_t step = from + 1; step <= last + 2; ++step) recorder.record_step(run_id, redo_step(step));
    recorder.finish_run(run_id, "cancelled");

    RunStore store(path);
    QCOMPARE(store.run(run_id)->status, QStringLiteral("cancelled"));
    const auto steps = store.steps(run_id);
    QCOMPARE(steps.size(), qsizetype(last + 2));
    for (qsizetype i = 0; i < steps.size(); ++i) {
      const qint64 step = steps[i].step;
      QCOMPARE(step, qint64(i + 1));
      QCOMPARE(steps[i].metrics.value(QStringLiteral("attempt")).toInt(), step <= from ? 1 : 2);
      const auto rollouts = store.rollouts(run_id, step);
      QCOMPARE(rollouts.size(), qsizetype(kPrompts * kGroup));
      QVERIFY(rollout_matches(rollouts.last(), step, kPrompts - 1, kGroup - 1));
    }
    QCOMPARE(raw_query(path, QStringLiteral("SELECT COUNT(*) FROM rollouts")),
             QStringList{QString::number((last + 2) * kPrompts * kGroup)});
  }
};

QTEST_GUILESS_MAIN(TestStoreCrash)
#include "tst_store_crash.moc"
