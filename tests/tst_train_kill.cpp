// A real training run (r1wb train grpo on r1-tiny, CPU) killed with SIGKILL at ten random moments: after
// each kill the store passes SQLite's checks and holds whole, contiguous steps, every checkpoint folder
// verifies against its checksums, and the next launch resumes from the last checkpoint; the last launch runs
// to the end with step numbers continuous from 1. Every other launch is killed a random moment after it
// saved a new checkpoint, so launches resume from checkpoints however slow the machine is. Set
// R1WB_KILL_SEED to replay a sequence of moments.
#include <QElapsedTimer>
#include <QProcess>
#include <QtTest/QtTest>

#include <algorithm>
#include <filesystem>
#include <random>

#include "core/run_store.h"
#include "engine/core/error.h"
#include "engine/model/model.h"
#include "engine/train/checkpoint.h"
#include "store_check.h"
#include "testlib/test_support.h"

using r1::app::RunStore;
using r1::test::raw_query;
namespace fs = std::filesystem;

namespace {

constexpr int kPrompts = 2;
constexpr int kGroup = 2;
constexpr int kSteps = 120;
constexpr int kKills = 10;

fs::path r1_tiny() {
  return r1::test::fixtures().parent_path().parent_path() / "resources" / "models" / "r1-tiny";
}

QStringList launch_args(const fs::path& out, const QString& store, qint64 resume_run) {
  QStringList a = {QStringLiteral("train"),
                   QStringLiteral("grpo"),
                   QStringLiteral("--model"),
                   QString::fromStdString(r1_tiny().string()),
                   QStringLiteral("--task"),
                   QStringLiteral("countdown"),
                   QStringLiteral("--group-size"),
                   QString::number(kGroup),
                   QStringLiteral("--prompts-per-step"),
                   QString::number(kPrompts),
                   QStringLiteral("--max-completion"),
                   QStringLiteral("24"),
                   QStringLiteral("--steps"),
                   QString::number(kSteps),
                   QStringLiteral("--save-every"),
                   QStringLiteral("3"),
                   QStringLiteral("--seed"),
                   QStringLiteral("5"),
                   QStringLiteral("--device"),
                   QStringLiteral("cpu"),
                   QStringLiteral("--quiet"),
                   QStringLiteral("--out"),
                   QString::fromStdString(out.string()),
                   QStringLiteral("--store"),
                   store};
  if (resume_run > 0) a << QStringLiteral("--resume") << QString::number(resume_run);
  return a;
}

// A finished checkpoint folder: a half-written one only ever exists under a .partial- name.
bool whole_checkpoint(const std::string& name) {
  return name.rfind("checkpoint-", 0) == 0 && name.find(".partial-") == std::string::npos;
}

// The step of the newest whole checkpoint folder in out (0: none). A folder gets its final name once it is
// whole, so this reads the file system, not the store under test.
qint64 newest_saved_step(const fs::path& out) {
  qint64 newest = 0;
  std::error_code none_yet;
  for (const fs::directory_entry& e : fs::directory_iterator(out, none_yet)) {
    const std::string name = e.path().filename().string();
    if (whole_checkpoint(name))
      newest = std::max(newest, QString::fromStdString(name.substr(11)).toLongLong());
  }
  return newest;
}

qint64 last_run(const QString& store) {
  const QStringList rows = raw_query(store, QStringLiteral("SELECT COALESCE(MAX(id), 0) FROM runs"));
  return rows.size() == 1 ? rows[0].toLongLong() : 0;
}

}  // namespace

class TestTrainKill : public QObject {
  Q_OBJECT

  // What every moment must leave: a sound store with whole, contiguous steps of `run`, and checkpoints that
  // verify. Returns the step of the run's last recorded checkpoint (0: none yet).
  static qint64 check_after_kill(const QString& store_path, const fs::path& out, qint64 run, qint64* last) {
    *last = 0;
    if (!fs::exists(store_path.toStdString())) return 0;  // killed before the store was created
    const QStringList integrity = raw_query(store_path, QStringLiteral("PRAGMA integrity_check"));
    if (integrity != QStringList{QStringLiteral("ok")})
      QTest::qFail(qPrintable(QStringLiteral("integrity_check: ") + integrity.join(' ')), __FILE__, __LINE__);
    if (!raw_query(store_path, QStringLiteral("PRAGMA foreign_key_check")).isEmpty())
      QTest::qFail("foreign_key_check reports rows", __FILE__, __LINE__);
    if (run == 0) return 0;
    RunStore store(store_path);
    const auto steps = store.steps(run);
    *last = store.lastStep(run);
    if (steps.size() != *last) QTest::qFail("the run's steps are not contiguous", __FILE__, __LINE__);
    for (qsizetype i = 0; i < steps.size(); ++i) {
      if (steps[i].step != i + 1) QTest::qFail("a step number is missing", __FILE__, __LINE__);
      if (store.rollouts(run, steps[i].step).size() != kPrompts * kGroup)
        QTest::qFail(qPrintable(QStringLiteral("step %1 is not whole").arg(steps[i].step)), __FILE__,
                     __LINE__);
    }
    // Every finished checkpoint folder verifies.
    std::error_code none_yet;  // killed before the first save made the folder
    for (const fs::directory_entry& e : fs::directory_iterator(out, none_yet)) {
      if (!whole_checkpoint(e.path().filename().string())) continue;
      try {
        r1::find_checkpoint(e.path());
      } catch (const r1::Error& err) {
        QTest::qFail(err.what(), __FILE__, __LINE__);
      }
    }
    const auto checkpoints = store.checkpoints(run);
    if (checkpoints.isEmpty()) return 0;
    const auto& c = checkpoints.last();
    if (c.step > *last) QTest::qFail("a checkpoint is recorded past the last step", __FILE__, __LINE__);
    const r1::LoadedCheckpoint loaded = r1::find_checkpoint(c.path.toStdString());
    if (loaded.state["step"].get<qint64>() != c.step)
      QTest::qFail("the recorded checkpoint holds another step", __FILE__, __LINE__);
    return c.step;
  }

 private slots:
  void killedTrainingResumesToTheEnd() {
    const QByteArray seed_env = qgetenv("R1WB_KILL_SEED");
    const unsigned seed = seed_env.isEmpty() ? std::random_device{}() : seed_env.toUInt();
    qInfo("R1WB_KILL_SEED=%u", seed);
    std::mt19937 rng(seed);
    // The other moments: up to max_ms after the launch. A launch killed before it saved anything new doubles
    // the range for the next (up to 6 s); progress resets it, so the run cannot reach its end before the
    // tenth kill.
    constexpr int kBaseMs = 1500, kMaxMs = 6000;
    int max_ms = kBaseMs;

    r1::test::TempDir dir;
    const QString store = QString::fromStdString((dir / "runs.sqlite").string());
    const fs::path out = dir / "run";
    const QString r1wb = QString::fromStdString((r1::test::bin_dir() / "r1wb").string());
    qint64 run = 0, checkpoint = 0;
    int kills = 0, resumes = 0;
    QStringList log;
    while (true) {
      const bool last_launch = kills == kKills;
      if (checkpoint > 0) ++resumes;
      QProcess p;
      p.start(r1wb, launch_args(out, store, checkpoint > 0 ? run : 0));
      QVERIFY2(p.waitForStarted(10000), qPrintable(p.errorString()));
      // waitForFinished() is false for a process that has already finished.
      const auto finished = [&](int wait) {
        return p.waitForFinished(wait) || p.state() == QProcess::NotRunning;
      };
      int ms = 0;
      bool done = false;
      if (!last_launch && kills % 2 == 1) {
        // Up to half a second after the launch's first new checkpoint folder appears.
        const qint64 saved = newest_saved_step(out);
        QElapsedTimer clock;
        clock.start();
        while (!done && newest_saved_step(out) <= saved) {
          QVERIFY2(clock.elapsed() < 600000, "a launch saved no checkpoint in 10 minutes");
          done = finished(20);
        }
        if (!done) done = finished(std::uniform_int_distribution<int>(1, 500)(rng));
        ms = int(clock.elapsed());
      } else {
        ms = last_launch ? 600000 : std::uniform_int_distribution<int>(50, max_ms)(rng);
        done = finished(ms);
      }
      if (done) {
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
                 qPrintable(QStringLiteral("r1wb exited with %1: %2")
                                .arg(p.exitCode())
                                .arg(QString::fromLocal8Bit(p.readAllStandardError()))));
        break;  // the run reached its last step
      }
      QVERIFY2(!last_launch, "the last launch did not finish in 10 minutes");
      p.kill();  // SIGKILL: no destructor, no flush, possibly inside a commit or a checkpoint save
      QVERIFY(p.waitForFinished(10000));
      QCOMPARE(p.exitStatus(), QProcess::CrashExit);
      ++kills;
      const qint64 before = checkpoint;
      if (checkpoint == 0) run = last_run(store);  // a fresh launch made a new run
      qint64 last = 0;
      checkpoint = check_after_kill(store, out, run, &last);
      if (QTest::currentTestFailed()) return;
      QVERIFY2(checkpoint >= before, "the last checkpoint went backwards");
      max_ms = checkpoint == before ? std::min(2 * max_ms, kMaxMs) : kBaseMs;
      log << QStringLiteral("%1 ms: step %2, checkpoint %3").arg(ms).arg(last).arg(checkpoint);
    }
    qInfo("%d kills (%d resumed launches): %s", kills, resumes, qPrintable(log.join(QStringLiteral("; "))));
    QCOMPARE(kills, kKills);
    QVERIFY2(resumes >= 3, "too few launches resumed from a checkpoint to show anything");

    run = last_run(store);
    qint64 last = 0;
    QCOMPARE(check_after_kill(store, out, run, &last), qint64(kSteps));
    QCOMPARE(last, qint64(kSteps));
    QCOMPARE(RunStore(store).run(run)->status, QStringLiteral("finished"));
    for (const fs::directory_entry& e : fs::directory_iterator(out))
      QVERIFY2(e.path().filename().string().find(".partial-") == std::string::npos,
               "a partial folder is left");
    // The final checkpoint is a model this engine loads.
    const r1::LoadedCheckpoint final_ckpt = r1::find_checkpoint(out);
    QCOMPARE(final_ckpt.state["step"].get<int>(), kSteps);
    QVERIFY(r1::load_model(final_ckpt.dir) != nullptr);
  }
};

QTEST_GUILESS_MAIN(TestTrainKill)
#include "tst_train_kill.moc"
