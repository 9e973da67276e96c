// The run store: conversations and messages survive a reopen, edits replace the tail of a conversation in
// one transaction, each thread uses its own connection, and a file from a newer schema is refused.
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QThread>
#include <QtTest/QtTest>

#include "core/run_store.h"
#include "testlib/test_support.h"

using r1::app::ChatMessage;
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
