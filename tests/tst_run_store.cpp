// The run store: conversations and messages survive a reopen, edits replace the tail of a conversation in
// one transaction, each thread uses its own connection, and a file from a newer schema is refused. Training
// runs: steps and rollouts (token and log-prob arrays included) read back as written, recording a step again
// replaces it and drops the steps after it, checkpoints and the run's status, the engine's recorder over the
// store, and version 1 and 2 files upgraded in place with what they held kept. The traces view's paged
// reads: steps and a step's prompts a page at a time, the prompt filters and text search, and one group.
#include <QJsonArray>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QtTest/QtTest>
#include <cmath>

#include "core/run_store.h"
#include "core/store_recorder.h"
#include "engine/core/error.h"
#include "testlib/test_support.h"

using r1::app::ChatMessage;
using r1::app::RolloutEntry;
using r1::app::RunStore;
using r1::app::StoreError;

namespace {

ChatMessage message(const QString& role, const QString& content, const QString& reasoning = {}) {
  ChatMessage m;
  m.role = role;
  m.content = content;
  m.reasoning = reasoning;
  return m;
}

QString store_file(const r1::test::TempDir& dir) {
  return QString::fromStdString((dir / "runs.sqlite").string());
}

RolloutEntry rollout(qint64 prompt_index, qint64 group_index, const QString& answer) {
  RolloutEntry r;
  r.prompt_index = prompt_index;
  r.group_index = group_index;
  r.prompt = QStringLiteral("2 + 2?");
  r.answer = answer;
  r.tokens = {qint32(prompt_index), qint32(group_index)};
  r.logprobs = {-0.5f, -1.5f};
  return r;
}

QStringList answers(const QVector<RolloutEntry>& rollouts) {
  QStringList out;
  for (const auto& r : rollouts) out << r.answer;
  return out;
}

QVector<qint64> step_numbers(const RunStore& store, qint64 run_id) {
  QVector<qint64> out;
  for (const auto& s : store.steps(run_id)) out << s.step;
  return out;
}

// A graded completion: the task verifier's reward, the format reward, and their total with format at 0.2.
RolloutEntry graded(qint64 prompt_index, qint64 group_index, const QString& prompt, double accuracy,
                    double format, const QString& thinking = {}, const QString& answer = {}) {
  RolloutEntry r;
  r.prompt_index = prompt_index;
  r.group_index = group_index;
  r.prompt = prompt;
  r.thinking = thinking;
  r.answer = answer;
  r.rewards = {{QStringLiteral("accuracy"), accuracy}, {QStringLiteral("format"), format}};
  r.reward = accuracy + 0.2 * format;
  r.advantage = group_index - 1.0;
  r.tokens = {qint32(100 + group_index)};
  r.logprobs = {-0.5f};
  return r;
}

// Five prompts of three completions each: all right, one right, all wrong alike, the last right, and all
// wrong with different format rewards. Prompt 2 and 4 differ only where a search for "50%" or "40_0" must
// not treat % and _ as wildcards.
QVector<RolloutEntry> graded_step() {
  const QString p0 = QStringLiteral("Reach 24 with 3 4 8"), p1 = QStringLiteral("Compute 17 * 3"),
                p2 = QStringLiteral("What is 50% of 80?"), p3 = QStringLiteral("Prime after 7?"),
                p4 = QStringLiteral("What is 50x of 80?");
  return {graded(0, 0, p0, 1, 1),
          graded(0, 1, p0, 1, 1),
          graded(0, 2, p0, 1, 1),
          graded(1, 0, p1, 1, 1),
          graded(1, 1, p1, 0, 1),
          graded(1, 2, p1, 0, 0),
          graded(2, 0, p2, 0, 1, {}, QStringLiteral("40_0")),
          graded(2, 1, p2, 0, 1),
          graded(2, 2, p2, 0, 1),
          graded(3, 0, p3, 0, 1, QStringLiteral("EIGHT is even")),
          graded(3, 1, p3, 0, 1),
          graded(3, 2, p3, 1, 1),
          graded(4, 0, p4, 0, 0, {}, QStringLiteral("4000")),
          graded(4, 1, p4, 0, 1),
          graded(4, 2, p4, 0, 0)};
}

// Runs the statements in order; returns the first failure's message, or an empty string.
template <size_t N>
QString run_sql(const QSqlDatabase& db, const char* const (&statements)[N]) {
  for (const char* sql : statements) {
    QSqlQuery q(db);
    if (!q.exec(QString::fromUtf8(sql)))
      return QString::fromUtf8(sql) + QStringLiteral(": ") + q.lastError().text();
  }
  return {};
}

QVector<qint64> prompt_indices(const QVector<r1::app::PromptSummary>& prompts) {
  QVector<qint64> out;
  for (const auto& p : prompts) out << p.prompt_index;
  return out;
}

// Runs `f` and returns the StoreError's message, or an empty string when nothing was thrown.
template <typename F>
QString store_error(F&& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return QString::fromUtf8(e.what());
  }
  return {};
}

// The schema as version 1 of the workbench wrote it.
const char* const kVersion1Schema[] = {
    "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY,"
    " conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " position INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, reasoning TEXT NOT NULL DEFAULT "
    "'',"
    " created_ms INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " reused_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,"
    " thinking_tokens INTEGER NOT NULL DEFAULT 0, first_token_s REAL NOT NULL DEFAULT 0,"
    " prefill_s REAL NOT NULL DEFAULT 0, decode_s REAL NOT NULL DEFAULT 0, thinking_s REAL NOT NULL DEFAULT "
    "0,"
    " tokens_per_second REAL NOT NULL DEFAULT 0, stop_reason TEXT NOT NULL DEFAULT '',"
    " context_used INTEGER NOT NULL DEFAULT 0, context_max INTEGER NOT NULL DEFAULT 0,"
    " dropped_messages INTEGER NOT NULL DEFAULT 0, model TEXT NOT NULL DEFAULT '',"
    " device TEXT NOT NULL DEFAULT '', UNIQUE (conversation_id, position))",
    "CREATE INDEX conversations_by_update ON conversations(updated_ms DESC)",
    "INSERT INTO conversations (id, title, model, created_ms, updated_ms) VALUES (7, 'Old chat', 'qwen', 1, "
    "2)",
    "INSERT INTO messages (conversation_id, position, role, content, reasoning, created_ms, "
    "completion_tokens)"
    " VALUES (7, 0, 'user', 'Hello', '', 1, 0), (7, 1, 'assistant', 'Hi', 'Greeting back.', 2, 5)",
    "PRAGMA user_version = 1",
};

// What version 2 added (training runs), with a run whose rollouts predate the correct column.
const char* const kVersion2Runs[] = {
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " config TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'running'"
    " CHECK (status IN ('running', 'finished', 'cancelled', 'failed')), created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL)",
    "CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " step INTEGER NOT NULL CHECK (step >= 1), metrics TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT "
    "NULL,"
    " PRIMARY KEY (run_id, step))",
    "CREATE TABLE rollouts (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, step INTEGER NOT NULL,"
    " prompt_index INTEGER NOT NULL, group_index INTEGER NOT NULL, prompt TEXT NOT NULL, thinking TEXT NOT "
    "NULL,"
    " answer TEXT NOT NULL, rewards TEXT NOT NULL DEFAULT '{}', reward REAL, advantage REAL,"
    " truncated INTEGER NOT NULL DEFAULT 0, tokens BLOB NOT NULL, logprobs BLOB NOT NULL,"
    " FOREIGN KEY (run_id, step) REFERENCES steps(run_id, step) ON DELETE CASCADE,"
    " UNIQUE (run_id, step, prompt_index, group_index))",
    "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE "
    "CASCADE, step INTEGER NOT NULL, path TEXT NOT NULL, created_ms INTEGER NOT NULL, UNIQUE (run_id, step))",
    "INSERT INTO runs (id, kind, model, status, created_ms, updated_ms) VALUES (3, 'grpo', 'm', 'finished', "
    "1, 2)",
    "INSERT INTO steps (run_id, step, metrics, created_ms) VALUES (3, 1, '{\"loss\":0.5}', 1)",
    "INSERT INTO rollouts (run_id, step, prompt_index, group_index, prompt, thinking, answer, rewards, "
    "reward,"
    " advantage, tokens, logprobs) VALUES"
    " (3, 1, 0, 0, '2+2?', 'add', '4', '{\"accuracy\":1.0,\"format\":1.0}', 1.2, 0.5, X'01000000',"
    " X'000000BF'),"
    " (3, 1, 0, 1, '2+2?', '', '5', '{\"accuracy\":0.0,\"format\":1.0}', 0.2, -0.5, X'', X''),"
    " (3, 1, 1, 0, '3+3?', '', '6', '{\"countdown\":1}', 1, 0, X'', X''),"
    " (3, 1, 2, 0, '4+4?', '', '9', '{\"countdown\":0.1,\"format\":1}', 0.3, 0, X'', X'')",
    "PRAGMA user_version = 2",
};

}  // namespace

class TestRunStore : public QObject {
  Q_OBJECT

 private slots:
  void createsSchemaAndReopens() {
    r1::test::TempDir dir;
    qint64 id = 0;
    {
      RunStore store(store_file(dir));
      QCOMPARE(store.schemaVersion(), RunStore::kSchemaVersion);
      id = store.createConversation(QStringLiteral("Primes"), QStringLiteral("qwen2-tied"));
      ChatMessage reply = message(QStringLiteral("assistant"), QStringLiteral("2, 3, 5"),
                                  QStringLiteral("Small primes are 2, 3 and 5."));
      reply.stats.completion_tokens = 42;
      reply.stats.thinking_tokens = 30;
      reply.stats.tokens_per_second = 123.5;
      reply.stats.first_token_seconds = 0.25;
      reply.stats.thinking_seconds = 3.2;
      reply.stats.stop_reason = QStringLiteral("eos");
      reply.stats.context_used = 80;
      reply.stats.context_max = 256;
      reply.stats.model = QStringLiteral("qwen2-tied");
      reply.stats.device = QStringLiteral("cpu");
      const auto ids = store.replaceMessagesFrom(
          id, 0, {message(QStringLiteral("user"), QStringLiteral("First three primes?")), reply});
      QCOMPARE(ids.size(), 2);
      QVERIFY(ids[0] > 0 && ids[1] > ids[0]);
    }
    RunStore again(store_file(dir));
    const auto list = again.conversations();
    QCOMPARE(list.size(), 1);
    QCOMPARE(list[0].title, QStringLiteral("Primes"));
    QCOMPARE(list[0].message_count, 2);
    const auto msgs = again.messages(id);
    QCOMPARE(msgs.size(), 2);
    QCOMPARE(msgs[0].role, QStringLiteral("user"));
    QCOMPARE(msgs[1].reasoning, QStringLiteral("Small primes are 2, 3 and 5."));
    QCOMPARE(msgs[1].stats.completion_tokens, qint64(42));
    QCOMPARE(msgs[1].stats.thinking_tokens, qint64(30));
    QCOMPARE(msgs[1].stats.tokens_per_second, 123.5);
    QCOMPARE(msgs[1].stats.thinking_seconds, 3.2);
    QCOMPARE(msgs[1].stats.stop_reason, QStringLiteral("eos"));
    QCOMPARE(msgs[1].stats.context_max, qint64(256));
    QCOMPARE(msgs[1].stats.device, QStringLiteral("cpu"));
  }

  void replaceDropsTheTail_data() {
    QTest::addColumn<int>("position");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("edit the first question") << 0 << QStringList{"edited", "new reply"};
    QTest::newRow("regenerate the last reply") << 3 << QStringList{"q1", "a1", "q2", "edited", "new reply"};
    QTest::newRow("append past the end") << 9 << QStringList{"q1", "a1", "q2", "a2", "edited", "new reply"};
  }
  void replaceDropsTheTail() {
    QFETCH(int, position);
    QFETCH(QStringList, expected);
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createConversation(QStringLiteral("t"), {});
    store.replaceMessagesFrom(id, 0,
                              {message("user", "q1"), message("assistant", "a1"), message("user", "q2"),
                               message("assistant", "a2")});
    store.replaceMessagesFrom(id, position, {message("user", "edited"), message("assistant", "new reply")});
    QStringList got;
    for (const auto& m : store.messages(id)) got << m.content;
    QCOMPARE(got, expected);
  }

  void newestConversationFirstAndDeleteTakesMessages() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 a = store.createConversation(QStringLiteral("older"), {});
    const qint64 b = store.createConversation(QStringLiteral("newer"), {});
    QTest::qWait(5);
    store.appendMessage(a, message("user", "bump"));  // a written to last: it comes first
    auto list = store.conversations();
    QCOMPARE(list.size(), 2);
    QCOMPARE(list[0].id, a);
    store.renameConversation(b, QStringLiteral("renamed"));
    QCOMPARE(store.conversation(b)->title, QStringLiteral("renamed"));
    store.deleteConversation(a);
    QCOMPARE(store.conversations().size(), 1);
    QCOMPARE(store.messageCount(a), 0);
    QVERIFY(!store.conversation(a).has_value());
  }

  void failedWriteLeavesNothingBehind() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    bool thrown = false;
    try {
      store.replaceMessagesFrom(12345, 0, {message("user", "lost")});
    } catch (const StoreError& e) {
      thrown = true;
      QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("conversation 12345 does not exist")),
               e.what());
    }
    QVERIFY(thrown);
    QCOMPARE(store.conversations().size(), 0);
  }

  void connectionBelongsToItsThread() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createConversation(QStringLiteral("shared file"), {});
    QString wrong_thread_error;
    int other_thread_count = -1;
    QThread* t = QThread::create([&] {
      try {
        store.conversations();
      } catch (const StoreError& e) {
        wrong_thread_error = QString::fromUtf8(e.what());
      }
      RunStore own(store_file(dir));  // the right way: a connection of its own
      own.appendMessage(id, message("user", "from a worker"));
      other_thread_count = own.messageCount(id);
    });
    t->start();
    QVERIFY(t->wait(10000));
    delete t;
    QVERIFY2(wrong_thread_error.contains(QStringLiteral("thread")), qPrintable(wrong_thread_error));
    QCOMPARE(other_thread_count, 1);
    QCOMPARE(store.messages(id).value(0).content, QStringLiteral("from a worker"));
  }

  void concurrentWritersBothLand() {
    r1::test::TempDir dir;
    qint64 id = 0;
    {
      RunStore store(store_file(dir));
      id = store.createConversation(QStringLiteral("busy"), {});
    }
    auto writer = [&](const QString& who) {
      RunStore own(store_file(dir));
      for (int i = 0; i < 50; ++i) own.appendMessage(id, message("user", who));
    };
    QThread* a = QThread::create(writer, QStringLiteral("a"));
    QThread* b = QThread::create(writer, QStringLiteral("b"));
    a->start();
    b->start();
    QVERIFY(a->wait(30000));
    QVERIFY(b->wait(30000));
    delete a;
    delete b;
    RunStore store(store_file(dir));
    QCOMPARE(store.messageCount(id), 100);
  }

  void newerSchemaIsRefused() {
    r1::test::TempDir dir;
    { RunStore store(store_file(dir)); }
    {
      QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("raw"));
      db.setDatabaseName(store_file(dir));
      QVERIFY(db.open());
      QSqlQuery(db).exec(QStringLiteral("PRAGMA user_version = 99"));
      db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("raw"));
    bool thrown = false;
    try {
      RunStore store(store_file(dir));
    } catch (const StoreError& e) {
      thrown = true;
      const QString msg = QString::fromUtf8(e.what());
      QVERIFY2(
          msg.contains(QStringLiteral("schema version 99")) && msg.contains(QStringLiteral("runs.sqlite")),
          e.what());
    }
    QVERIFY(thrown);
  }

  void runRoundTripKeepsEveryField() {
    r1::test::TempDir dir;
    qint64 id = 0;
    RolloutEntry first = rollout(0, 0, QStringLiteral("4"));
    first.thinking = QStringLiteral("Two and two make four. \u2713");
    first.rewards = {{QStringLiteral("accuracy"), 1.0}, {QStringLiteral("format"), 0.5}};
    first.reward = 1.25;
    first.advantage = -0.75;
    first.truncated = true;
    first.tokens = {0, 151643, -1, 2147483647};
    first.logprobs = {0.0f, -1e-7f, -23.5f, -std::numeric_limits<float>::infinity()};
    RolloutEntry second = rollout(0, 1, QStringLiteral("5"));
    second.advantage = std::nan("");  // a group whose rewards are all equal, normalised without care
    second.tokens.clear();
    second.logprobs.clear();
    {
      RunStore store(store_file(dir));
      id = store.createRun(QStringLiteral("grpo"), QStringLiteral("qwen2-tied"),
                           {{QStringLiteral("lr"), 1e-6}, {QStringLiteral("group"), 8}});
      store.recordStep(id, 1, {{QStringLiteral("loss"), 0.25}, {QStringLiteral("reward_mean"), 0.5}},
                       {second, first});  // stored in any order, read back by prompt then completion
      store.recordStep(id, 2, {{QStringLiteral("loss"), 0.125}}, {});
    }
    RunStore store(store_file(dir));
    const auto runs = store.runs();
    QCOMPARE(runs.size(), 1);
    QCOMPARE(runs[0].id, id);
    QCOMPARE(runs[0].kind, QStringLiteral("grpo"));
    QCOMPARE(runs[0].model, QStringLiteral("qwen2-tied"));
    QCOMPARE(runs[0].status, QStringLiteral("running"));
    QCOMPARE(runs[0].config.value(QStringLiteral("group")).toInt(), 8);
    QCOMPARE(store.run(id)->config.value(QStringLiteral("lr")).toDouble(), 1e-6);
    QVERIFY(!store.run(id + 1).has_value());
    QCOMPARE(store.lastStep(id), qint64(2));
    const auto steps = store.steps(id);
    QCOMPARE(steps.size(), 2);
    QCOMPARE(steps[0].metrics.value(QStringLiteral("reward_mean")).toDouble(), 0.5);
    QCOMPARE(steps[1].metrics.value(QStringLiteral("loss")).toDouble(), 0.125);
    QCOMPARE(store.steps(id, 1).size(), 1);
    const auto got = store.rollouts(id, 1);
    QCOMPARE(got.size(), 2);
    QCOMPARE(got[0].prompt, QStringLiteral("2 + 2?"));
    QCOMPARE(got[0].thinking, first.thinking);
    QCOMPARE(got[0].answer, QStringLiteral("4"));
    QCOMPARE(got[0].rewards, first.rewards);
    QCOMPARE(got[0].reward, 1.25);
    QCOMPARE(got[0].advantage, -0.75);
    QVERIFY(got[0].truncated);
    QCOMPARE(got[0].tokens, first.tokens);
    QCOMPARE(got[0].logprobs, first.logprobs);
    QVERIFY(!got[1].truncated);
    QVERIFY(std::isnan(got[1].advantage));
    QVERIFY(got[1].tokens.isEmpty() && got[1].logprobs.isEmpty());
    QVERIFY(store.rollouts(id, 2).isEmpty());
  }

  void recordingAStepAgainReplacesItAndWhatFollows() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("grpo"), {}, {});
    const qint64 other = store.createRun(QStringLiteral("grpo"), {}, {});
    for (qint64 step = 1; step <= 5; ++step) {
      store.recordStep(id, step, {{QStringLiteral("try"), 1}},
                       {rollout(0, 0, QStringLiteral("old")), rollout(0, 1, QStringLiteral("old"))});
      store.recordStep(other, step, {}, {rollout(0, 0, QStringLiteral("other"))});
    }
    // Resumed from a checkpoint at step 2, the run redoes step 3 with a different group.
    store.recordStep(id, 3, {{QStringLiteral("try"), 2}}, {rollout(0, 0, QStringLiteral("new"))});
    QCOMPARE(step_numbers(store, id), (QVector<qint64>{1, 2, 3}));
    QCOMPARE(store.lastStep(id), qint64(3));
    QCOMPARE(store.steps(id).last().metrics.value(QStringLiteral("try")).toInt(), 2);
    QCOMPARE(answers(store.rollouts(id, 3)), QStringList{QStringLiteral("new")});
    QCOMPARE(answers(store.rollouts(id, 2)), (QStringList{QStringLiteral("old"), QStringLiteral("old")}));
    QVERIFY(store.rollouts(id, 4).isEmpty());
    QCOMPARE(step_numbers(store, other), (QVector<qint64>{1, 2, 3, 4, 5}));
    QCOMPARE(answers(store.rollouts(other, 5)), QStringList{QStringLiteral("other")});
  }

  void checkpointsAndStatus() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("sft"), QStringLiteral("m"), {});
    store.recordCheckpoint(id, 10, QStringLiteral("/ckpt/10"));
    store.recordCheckpoint(id, 5, QStringLiteral("/ckpt/5"));
    store.recordCheckpoint(id, 10, QStringLiteral("/ckpt/10-again"));  // a resumed run saving the same step
    const auto checkpoints = store.checkpoints(id);
    QCOMPARE(checkpoints.size(), 2);
    QCOMPARE(checkpoints[0].step, qint64(5));
    QCOMPARE(checkpoints[1].path, QStringLiteral("/ckpt/10-again"));
    QVERIFY(checkpoints[1].created_ms > 0);

    store.finishRun(id, QStringLiteral("failed"));
    QCOMPARE(store.run(id)->status, QStringLiteral("failed"));
    QCOMPARE(store.resumeRun(id), qint64(0));
    QCOMPARE(store.run(id)->status, QStringLiteral("running"));
    store.recordStep(id, 1, {}, {});
    QCOMPARE(store.resumeRun(id), qint64(1));
    store.finishRun(id, QStringLiteral("finished"));
    QCOMPARE(store.run(id)->status, QStringLiteral("finished"));
    QVERIFY(store.run(id)->updated_ms >= store.run(id)->created_ms);
  }

  void badRunWritesAreRefused() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("grpo"), {}, {});
    QString msg = store_error([&] { store.recordStep(id + 41, 1, {}, {rollout(0, 0, "lost")}); });
    QVERIFY2(msg.contains(QStringLiteral("run %1 does not exist").arg(id + 41)), qPrintable(msg));
    msg = store_error([&] { store.recordStep(id, 0, {}, {}); });
    QVERIFY2(msg.contains(QStringLiteral("steps start at 1")), qPrintable(msg));
    msg = store_error([&] { store.finishRun(id, QStringLiteral("done")); });
    QVERIFY2(msg.contains(QStringLiteral("\"done\"")), qPrintable(msg));
    msg = store_error([&] { store.resumeRun(id + 41); });
    QVERIFY2(msg.contains(QStringLiteral("does not exist")), qPrintable(msg));
    // Two rollouts claiming the same place in the group: the whole step is refused, not half written.
    msg = store_error([&] {
      store.recordStep(id, 1, {}, {rollout(0, 0, QStringLiteral("a")), rollout(0, 0, QStringLiteral("b"))});
    });
    QVERIFY2(msg.contains(QStringLiteral("UNIQUE")), qPrintable(msg));
    QCOMPARE(store.lastStep(id), qint64(0));
    QVERIFY(store.rollouts(id, 1).isEmpty());
    QCOMPARE(store.run(id)->status, QStringLiteral("running"));
  }

  void migratesVersion1File() {
    r1::test::TempDir dir;
    {
      QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("v1"));
      db.setDatabaseName(store_file(dir));
      QVERIFY(db.open());
      for (const char* sql : kVersion1Schema) {
        QSqlQuery q(db);
        QVERIFY2(q.exec(QString::fromUtf8(sql)), qPrintable(q.lastError().text()));
      }
      db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("v1"));
    {
      RunStore store(store_file(dir));
      QCOMPARE(store.schemaVersion(), RunStore::kSchemaVersion);
      const auto list = store.conversations();
      QCOMPARE(list.size(), 1);
      QCOMPARE(list[0].id, qint64(7));
      QCOMPARE(list[0].title, QStringLiteral("Old chat"));
      const auto msgs = store.messages(7);
      QCOMPARE(msgs.size(), 2);
      QCOMPARE(msgs[1].reasoning, QStringLiteral("Greeting back."));
      QCOMPARE(msgs[1].stats.completion_tokens, qint64(5));
      store.appendMessage(7, message("user", "after the upgrade"));
      const qint64 run = store.createRun(QStringLiteral("grpo"), {}, {});
      store.recordStep(run, 1, {}, {rollout(0, 0, QStringLiteral("4"))});
    }
    RunStore again(store_file(dir));  // a second open finds the current version and leaves it alone
    QCOMPARE(again.schemaVersion(), RunStore::kSchemaVersion);
    QCOMPARE(again.messageCount(7), 3);
    QCOMPARE(again.runs().size(), 1);
    QCOMPARE(again.rollouts(again.runs()[0].id, 1).size(), 1);
  }

  void pagesThroughStepsAndPrompts() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("grpo"), {}, {});
    const qint64 other = store.createRun(QStringLiteral("grpo"), {}, {});
    const QVector<RolloutEntry> step1 = graded_step();
    store.recordStep(id, 1, {{QStringLiteral("reward_mean"), 0.5}}, step1);
    store.recordStep(other, 1, {}, {graded(9, 0, QStringLiteral("elsewhere"), 1, 1)});
    for (qint64 step = 2; step <= 4; ++step)
      store.recordStep(id, step, {{QStringLiteral("step"), step}},
                       {graded(0, 0, QStringLiteral("later"), 0, 1)});

    QCOMPARE(store.runCount(), 2);
    QCOMPARE(store.stepCount(id), 4);
    QCOMPARE(store.stepCount(other), 1);
    const auto page = store.stepPage(id, 2, 1);
    QCOMPARE(page.size(), 2);
    QCOMPARE(page[0].step, qint64(2));
    QCOMPARE(page[1].step, qint64(3));
    QCOMPARE(page[1].metrics.value(QStringLiteral("step")).toInt(), 3);
    QCOMPARE(store.stepPage(id, 10, 3).size(), 1);  // the last page is short
    QVERIFY(store.stepPage(id, 10, 4).isEmpty());

    QCOMPARE(store.promptCount(id, 1), 5);
    const auto all = store.prompts(id, 1, {}, 100, 0);
    QCOMPARE(prompt_indices(all), (QVector<qint64>{0, 1, 2, 3, 4}));
    for (const auto& p : all) {
      double sum = 0, square = 0;
      int n = 0, correct = 0;
      QString text;
      for (const RolloutEntry& r : step1) {
        if (r.prompt_index != p.prompt_index) continue;
        sum += r.reward, square += r.reward * r.reward, ++n;
        correct += r.rewards.value(QStringLiteral("accuracy")).toDouble() == 1.0 ? 1 : 0;
        text = r.prompt;
      }
      const double mean = sum / n;
      QCOMPARE(p.prompt, text);
      QCOMPARE(p.completions, n);
      QCOMPARE(p.correct, correct);
      QVERIFY2(std::abs(p.reward_mean - mean) < 1e-12, qPrintable(QString::number(p.reward_mean)));
      QVERIFY(std::abs(p.reward_std - std::sqrt(std::max(0.0, square / n - mean * mean))) < 1e-6);
    }
    QCOMPARE(all[2].prompt, QStringLiteral("What is 50% of 80?"));
    QCOMPARE(all[1].correct, 1);
    QVector<bool> flat;
    for (const auto& p : all) flat << p.zero_spread;
    QCOMPARE(flat, (QVector<bool>{true, false, true, false, false}));
    QVERIFY(all[0].reward_std < 1e-9 && all[1].reward_std > 0.1);

    QCOMPARE(prompt_indices(store.prompts(id, 1, {}, 2, 1)), (QVector<qint64>{1, 2}));
    QCOMPARE(prompt_indices(store.prompts(id, 1, {}, 2, 4)), (QVector<qint64>{4}));
    QCOMPARE(prompt_indices(store.prompts(id, 2, {}, 10, 0)), (QVector<qint64>{0}));
    QCOMPARE(store.prompts(id, 2, {}, 10, 0)[0].prompt, QStringLiteral("later"));
    QCOMPARE(prompt_indices(store.prompts(other, 1, {}, 10, 0)), (QVector<qint64>{9}));
    QVERIFY(store.prompts(id, 9, {}, 10, 0).isEmpty());
  }

  void filtersPrompts_data() {
    using Outcome = r1::app::PromptFilter::Outcome;
    QTest::addColumn<int>("outcome");
    QTest::addColumn<bool>("zero_spread");
    QTest::addColumn<QString>("search");
    QTest::addColumn<QVector<qint64>>("expected");
    const int any = int(Outcome::Any), some = int(Outcome::SomeCorrect), none = int(Outcome::NoneCorrect);
    QTest::newRow("some correct") << some << false << QString() << QVector<qint64>{0, 1, 3};
    QTest::newRow("none correct") << none << false << QString() << QVector<qint64>{2, 4};
    QTest::newRow("zero spread") << any << true << QString() << QVector<qint64>{0, 2};
    QTest::newRow("none correct, zero spread") << none << true << QString() << QVector<qint64>{2};
    QTest::newRow("prompt text, either case")
        << any << false << QStringLiteral("compute") << QVector<qint64>{1};
    QTest::newRow("thinking") << any << false << QStringLiteral("eight is") << QVector<qint64>{3};
    QTest::newRow("answer") << any << false << QStringLiteral("4000") << QVector<qint64>{4};
    QTest::newRow("% is a character") << any << false << QStringLiteral("50%") << QVector<qint64>{2};
    QTest::newRow("_ is a character") << any << false << QStringLiteral("40_0") << QVector<qint64>{2};
    QTest::newRow("backslash") << any << false << QStringLiteral("\\") << QVector<qint64>{};
    QTest::newRow("search and outcome")
        << none << false << QStringLiteral("what is") << QVector<qint64>{2, 4};
    QTest::newRow("search and other outcome")
        << some << false << QStringLiteral("what is") << QVector<qint64>{};
    QTest::newRow("no match") << any << false << QStringLiteral("zebra") << QVector<qint64>{};
  }
  void filtersPrompts() {
    QFETCH(int, outcome);
    QFETCH(bool, zero_spread);
    QFETCH(QString, search);
    QFETCH(QVector<qint64>, expected);
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("grpo"), {}, {});
    store.recordStep(id, 1, {}, graded_step());
    r1::app::PromptFilter filter;
    filter.outcome = r1::app::PromptFilter::Outcome(outcome);
    filter.zero_spread_only = zero_spread;
    filter.search = search;
    QCOMPARE(prompt_indices(store.prompts(id, 1, filter, 100, 0)), expected);
    QCOMPARE(store.promptCount(id, 1, filter), int(expected.size()));
    if (expected.size() > 1)  // the filtered list pages like the whole one
      QCOMPARE(prompt_indices(store.prompts(id, 1, filter, 1, 1)), QVector<qint64>{expected[1]});
  }

  void readsOneGroup() {
    r1::test::TempDir dir;
    RunStore store(store_file(dir));
    const qint64 id = store.createRun(QStringLiteral("grpo"), {}, {});
    store.recordStep(id, 1, {}, graded_step());
    const auto group = store.groupRollouts(id, 1, 3);
    QCOMPARE(group.size(), 3);
    QCOMPARE(group[0].group_index, qint64(0));
    QCOMPARE(group[0].thinking, QStringLiteral("EIGHT is even"));
    QCOMPARE(group[2].group_index, qint64(2));
    QCOMPARE(group[2].rewards.value(QStringLiteral("accuracy")).toDouble(), 1.0);
    QCOMPARE(group[2].tokens, (QVector<qint32>{102}));
    QCOMPARE(store.groupRollouts(id, 1, 3, 2).size(), 2);
    QVERIFY(store.groupRollouts(id, 1, 7).isEmpty());

    QVERIFY(r1::app::isCorrect({{QStringLiteral("countdown"), 1.0}}));
    QVERIFY(r1::app::isCorrect({{QStringLiteral("math"), 1}, {QStringLiteral("format"), 0.0}}));
    QVERIFY(!r1::app::isCorrect({{QStringLiteral("countdown"), 0.1}, {QStringLiteral("format"), 1.0}}));
    QVERIFY(!r1::app::isCorrect({{QStringLiteral("length"), 1.0}}));
    QVERIFY(!r1::app::isCorrect({}));
  }

  void migratesVersion2File() {
    r1::test::TempDir dir;
    {
      QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("v2"));
      db.setDatabaseName(store_file(dir));
      QVERIFY(db.open());
      QCOMPARE(run_sql(db, kVersion1Schema), QString());
      QCOMPARE(run_sql(db, kVersion2Runs), QString());
      db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("v2"));
    RunStore store(store_file(dir));
    QCOMPARE(store.schemaVersion(), RunStore::kSchemaVersion);
    QCOMPARE(store.messageCount(7), 2);
    const auto old = store.rollouts(3, 1);
    QCOMPARE(old.size(), 4);
    QCOMPARE(old[0].thinking, QStringLiteral("add"));
    QCOMPARE(old[0].tokens, QVector<qint32>{1});
    QCOMPARE(old[0].logprobs, QVector<float>{-0.5f});
    QCOMPARE(old[1].advantage, -0.5);
    // The rollouts written before the upgrade were graded by the upgrade itself.
    QVector<int> correct;
    for (const auto& p : store.prompts(3, 1, {}, 10, 0)) correct << p.correct;
    QCOMPARE(correct, (QVector<int>{1, 1, 0}));
    r1::app::PromptFilter none;
    none.outcome = r1::app::PromptFilter::Outcome::NoneCorrect;
    QCOMPARE(prompt_indices(store.prompts(3, 1, none, 10, 0)), QVector<qint64>{2});
    store.recordStep(3, 2, {}, {graded(0, 0, QStringLiteral("after"), 1, 0)});
    QCOMPARE(store.prompts(3, 2, {}, 10, 0).value(0).correct, 1);
  }

  void recorderWritesWhatTheEngineHandsIt() {
    r1::test::TempDir dir;
    r1::app::StoreRecorder recorder(store_file(dir));
    const int64_t id =
        recorder.begin_run("grpo", "qwen2-tied", {{"lr", 2e-6}, {"rewards", {"accuracy", "format"}}});
    r1::StepRecord step;
    step.step = 1;
    step.metrics = {{"loss", 0.5}, {"kl", 0.01}};
    r1::RolloutRecord r;
    r.prompt_index = 2;
    r.group_index = 3;
    r.prompt = "Prime after 7?";
    r.thinking = "8 is even, 9 is 3 squared.";
    r.answer = "11";
    r.rewards = {{"format", 1.0}, {"accuracy", 0.0}};
    r.reward = 0.25;
    r.advantage = 1.5;
    r.tokens = {9, 8, 7};
    r.logprobs = {-0.25f, -0.5f, -0.75f};
    step.rollouts = {r};
    recorder.record_step(id, step);
    QVERIFY(!recorder.last_checkpoint(id).has_value());
    recorder.record_checkpoint(id, 1, "/ckpt/1");
    recorder.record_checkpoint(id, 2, "/ckpt/2");
    QCOMPARE(recorder.last_checkpoint(id), (std::optional<std::pair<int64_t, std::string>>{{2, "/ckpt/2"}}));

    RunStore store(store_file(dir));
    const auto run = store.run(id);
    QCOMPARE(run->config.value(QStringLiteral("rewards")).toArray().size(), 2);
    QCOMPARE(store.steps(id)[0].metrics.value(QStringLiteral("kl")).toDouble(), 0.01);
    const auto got = store.rollouts(id, 1);
    QCOMPARE(got.size(), 1);
    QCOMPARE(got[0].prompt_index, qint64(2));
    QCOMPARE(got[0].group_index, qint64(3));
    QCOMPARE(got[0].answer, QStringLiteral("11"));
    QCOMPARE(got[0].rewards.value(QStringLiteral("format")).toDouble(), 1.0);
    QCOMPARE(got[0].tokens, (QVector<qint32>{9, 8, 7}));
    QCOMPARE(got[0].logprobs, (QVector<float>{-0.25f, -0.5f, -0.75f}));

    // Errors reach the engine as r1::Error, naming what is wrong.
    step.metrics = nlohmann::json::array({1, 2});
    R1_EXPECT_ERROR(recorder.record_step(id, step), "metrics", "JSON object");
    step.metrics = {};
    step.rollouts[0].rewards = {{"format", 1.0}, {"format", 0.0}};
    R1_EXPECT_ERROR(recorder.record_step(id, step), "\"format\" twice");
    R1_EXPECT_ERROR(recorder.resume_run(id + 1), "does not exist");
    R1_EXPECT_ERROR(recorder.finish_run(id, "paused"), "paused");
    QCOMPARE(store.lastStep(id), qint64(1));
    R1_EXPECT_ERROR(r1::app::StoreRecorder(QStringLiteral("/proc/r1wb-no-such/runs.sqlite")), "r1wb-no-such");
  }

  void unwritableFolderNamesTheFile() {
    bool thrown = false;
    try {
      RunStore store(QStringLiteral("/proc/r1wb-no-such/runs.sqlite"));
    } catch (const StoreError& e) {
      thrown = true;
      QVERIFY2(QString::fromUtf8(e.what()).contains(QStringLiteral("/proc/r1wb-no-such/runs.sqlite")),
               e.what());
    }
    QVERIFY(thrown);
  }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "tst_run_store.moc"
