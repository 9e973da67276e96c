// The chat session: a model loads on the worker thread with progress, a bad folder reports the engine's
// message and leaves the session usable, replies stream thinking and answer text with stats, Stop ends a
// reply midway, and replies, regenerations and edits land in the run store.
#include <QSettings>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include "chat_test_model.h"
#include "core/app_settings.h"
#include "core/chat_session.h"
#include "core/run_store.h"
#include "testlib/test_support.h"

using namespace r1::app;

namespace {

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

ChatMessage user(const QString& text) {
  ChatMessage m;
  m.role = QStringLiteral("user");
  m.content = text;
  return m;
}

ChatRequest request(QVector<ChatMessage> messages, int max_tokens, qint64 conversation = 0) {
  ChatRequest r;
  r.conversation_id = conversation;
  r.persist_from = 0;
  r.messages = std::move(messages);
  r.settings.max_tokens = max_tokens;
  r.settings.temperature = 1.0;
  r.settings.seed = 7;
  return r;
}

bool load(ChatSession& s, const QString& dir) {
  QSignalSpy loaded(&s, &ChatSession::modelLoaded);
  QSignalSpy failed(&s, &ChatSession::loadFailed);
  s.loadModel(dir, QStringLiteral("cpu"));
  return loaded.wait(60000) && failed.isEmpty() && !s.isLoading();
}

// Waits for the reply and returns it, with the text deltas seen on the way.
struct Reply {
  ChatMessage message;
  QString thinking, answer;
  int deltas = 0;
};
Reply finish(ChatSession& s, quint64 id, int timeout_ms = 60000) {
  Reply r;
  QObject ctx;
  QObject::connect(&s, &ChatSession::textDelta, &ctx,
                   [&](quint64 rid, ReplyPhase phase, const QString& text) {
                     if (rid != id) return;
                     ++r.deltas;
                     (phase == ReplyPhase::Thinking ? r.thinking : r.answer) += text;
                   });
  QSignalSpy done(&s, &ChatSession::replyFinished);
  QSignalSpy failed(&s, &ChatSession::replyFailed);
  QElapsedTimer clock;
  clock.start();
  while (done.isEmpty() && failed.isEmpty() && clock.elapsed() < timeout_ms) QTest::qWait(5);
  if (!failed.isEmpty()) qWarning() << "reply failed:" << failed.first().at(1).toString();
  if (!done.isEmpty() && done.first().at(0).value<quint64>() == id)
    r.message = done.first().at(1).value<ChatMessage>();
  return r;
}

}  // namespace

class TestChatSession : public QObject {
  Q_OBJECT

  std::unique_ptr<r1::test::TempDir> settings_dir_;

 private slots:
  void initTestCase() {
    settings_dir_ = std::make_unique<r1::test::TempDir>();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, qpath(settings_dir_->path()));
  }

  void recentModelsNewestFirstAndCapped() {
    AppSettings s;
    for (int i = 0; i < AppSettings::kMaxRecentModels + 3; ++i)
      s.addRecentModel(QStringLiteral("/models/m%1").arg(i));
    s.addRecentModel(QStringLiteral("/models/m5/"));  // the same folder again moves to the front
    const QStringList recent = s.recentModels();
    QCOMPARE(recent.size(), AppSettings::kMaxRecentModels);
    QCOMPARE(recent.front(), QStringLiteral("/models/m5"));
    QCOMPARE(recent.count(QStringLiteral("/models/m5")), 1);
    QVERIFY(!recent.contains(QStringLiteral("/models/m0")));
  }

  void defaultModelFollowsTheEnvironmentThenTheSetting() {
    qputenv("R1WB_DEFAULT_MODEL", "/somewhere/r1-tiny");
    QCOMPARE(resolveDefaultModel().dir, QStringLiteral("/somewhere/r1-tiny"));
    qunsetenv("R1WB_DEFAULT_MODEL");
    AppSettings().setDefaultModel(qpath(r1::test::fixtures() / "models" / "qwen3-qknorm"));
    QVERIFY(resolveDefaultModel().dir.endsWith(QStringLiteral("qwen3-qknorm")));
    AppSettings().setDefaultModel(QStringLiteral("/no/such/folder"));  // unusable: the next candidate wins
    QVERIFY(looksLikeModelDir(resolveDefaultModel().dir));
  }

  void costPerMillionTokens_data() {
    QTest::addColumn<double>("tokensPerSecond");
    QTest::addColumn<double>("hourlyPrice");
    QTest::addColumn<double>("dollars");
    QTest::newRow("1000 tok/s at $3.60/h") << 1000.0 << 3.6 << 1.0;
    QTest::newRow("10 tok/s at $0.36/h") << 10.0 << 0.36 << 10.0;
    QTest::newRow("speed unknown") << 0.0 << 2.0 << 0.0;
  }
  void costPerMillionTokens() {
    QFETCH(double, tokensPerSecond);
    QFETCH(double, hourlyPrice);
    QFETCH(double, dollars);
    QVERIFY(qAbs(r1::app::costPerMillionTokens(tokensPerSecond, hourlyPrice) - dollars) < 1e-9);
  }

  void loadsWithProgress() {
    ChatSession s;
    QSignalSpy progress(&s, &ChatSession::loadProgress);
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QVERIFY(!progress.isEmpty());
    QCOMPARE(progress.last().at(0).toDouble(), 1.0);
    const ModelInfo& m = s.model();
    QCOMPARE(m.name, QStringLiteral("qwen2-tied"));
    QCOMPARE(m.device, QStringLiteral("cpu"));
    QVERIFY(m.parameters > 0);
    QCOMPARE(m.max_context, qint64(256));
    QVERIFY(m.has_think_tokens);
    QVERIFY(m.kv.bytes_per_token > 0);
    QCOMPARE(m.kv.bytes_per_token, m.kv.bytes_per_token_layer * m.kv.layers);
    QVERIFY(m.kv.mha_bytes_per_token_layer > m.kv.bytes_per_token_layer);  // GQA: 1 K/V head for 4 heads
  }

  void badFolderReportsTheEngineMessage_data() {
    QTest::addColumn<QString>("breakage");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("missing folder") << "missing"
                                    << "not a model folder";
    QTest::newRow("broken config.json") << "config"
                                        << "config.json";
    QTest::newRow("no tokenizer.json") << "tokenizer"
                                       << "tokenizer.json";
  }
  void badFolderReportsTheEngineMessage() {
    QFETCH(QString, breakage);
    QFETCH(QString, fragment);
    r1::test::TempDir tmp;
    const auto bad = tmp / "model";
    if (breakage != "missing") r1::test::copy_dir(r1::test::chat_fixture_model(), bad);
    if (breakage == "config") r1::test::write_bytes(bad / "config.json", "{ not json");
    if (breakage == "tokenizer") std::filesystem::remove(bad / "tokenizer.json");

    ChatSession s;
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QSignalSpy failed(&s, &ChatSession::loadFailed);
    s.loadModel(qpath(bad), QStringLiteral("cpu"));
    QVERIFY(failed.wait(30000));
    const QString message = failed.first().at(1).toString();
    QVERIFY2(message.contains(fragment), qPrintable(message));
    QVERIFY(!s.isLoading());
    // The model loaded before is still there and answers.
    QCOMPARE(s.model().name, QStringLiteral("qwen2-tied"));
    const Reply r = finish(s, s.send(request({user(QStringLiteral("Still there?"))}, 8)));
    QVERIFY(r.message.stats.completion_tokens > 0);
  }

  void cancelledLoadKeepsThePreviousModel() {
    r1::test::TempDir tmp;
    const auto slow = r1::test::write_slow_chat_model(tmp / "slow");
    ChatSession s;
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QSignalSpy cancelled(&s, &ChatSession::loadCancelled);
    QSignalSpy loaded(&s, &ChatSession::modelLoaded);
    s.loadModel(qpath(slow), QStringLiteral("cpu"));
    QVERIFY(s.isLoading());
    s.cancelLoad();
    QVERIFY(cancelled.wait(30000));
    QVERIFY(loaded.isEmpty());
    QVERIFY(!s.isLoading());
    QCOMPARE(s.model().name, QStringLiteral("qwen2-tied"));
  }

  void replyStreamsThinkingWithStats() {
    ChatSession s;
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QSignalSpy kv(&s, &ChatSession::kvChanged);
    const Reply r = finish(s, s.send(request({user(QStringLiteral("What is 2+3?"))}, 48)));
    const ReplyStats& st = r.message.stats;
    QVERIFY(r.deltas > 0);
    // The fixture's vocabulary has <think>: the prompt opens it, so the reply starts with its reasoning.
    QVERIFY(!r.thinking.isEmpty());
    QCOMPARE(r.message.reasoning, r.thinking);
    QCOMPARE(r.message.content, r.answer);
    QVERIFY(st.completion_tokens > 0 && st.completion_tokens <= 48);
    QVERIFY(st.thinking_tokens > 0 && st.thinking_tokens <= st.completion_tokens);
    QVERIFY(st.prompt_tokens > 0);
    QVERIFY(st.first_token_seconds > 0);
    QVERIFY(st.thinking_seconds > 0);
    QVERIFY(QStringList({"eos", "max_tokens", "context_full"}).contains(st.stop_reason));
    if (st.completion_tokens > 1) QVERIFY(st.tokens_per_second > 0);
    // Every token but the last sampled one went through the model.
    QVERIFY(st.context_used >= st.prompt_tokens + st.completion_tokens - 1);
    QVERIFY(st.context_used <= st.prompt_tokens + st.completion_tokens);
    QCOMPARE(st.context_max, qint64(256));
    QVERIFY(!kv.isEmpty());
    QVERIFY(kv.last().at(0).value<KvSnapshot>().used_tokens > 0);
  }

  void followUpReusesTheCache() {
    ChatSession s;
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QVector<ChatMessage> conv{user(QStringLiteral("Hi"))};
    const Reply first = finish(s, s.send(request(conv, 12)));
    conv << first.message << user(QStringLiteral("And?"));
    const Reply second = finish(s, s.send(request(conv, 12)));
    QVERIFY(second.message.stats.reused_tokens > 0);
    QVERIFY(second.message.stats.reused_tokens < second.message.stats.prompt_tokens);
  }

  void stopEndsAReplyMidway() {
    r1::test::TempDir tmp;
    const auto slow = r1::test::write_slow_chat_model(tmp / "slow");
    ChatSession s;
    QVERIFY(load(s, qpath(slow)));
    const quint64 id = s.send(request({user(QStringLiteral("Count to a thousand."))}, 1500));
    QVERIFY(s.isGenerating());
    QSignalSpy delta(&s, &ChatSession::textDelta);
    QVERIFY(delta.wait(30000));
    s.stop();
    const Reply r = finish(s, id);
    QCOMPARE(r.message.stats.stop_reason, QStringLiteral("cancelled"));
    QVERIFY(r.message.stats.completion_tokens > 0);
    QVERIFY(r.message.stats.completion_tokens < 1500);
    QVERIFY(!(r.message.reasoning + r.message.content).isEmpty());
    QVERIFY(!s.isGenerating());
  }

  void overlongConversationLeavesOutEarlyTurns() {
    ChatSession s;
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));
    QVector<ChatMessage> conv;
    for (int i = 0; i < 6; ++i) {
      conv << user(QStringLiteral("Question number %1 with some words to fill the context up").arg(i));
      ChatMessage a;
      a.role = QStringLiteral("assistant");
      a.content = QStringLiteral("Answer number %1, also long enough to take a few tokens").arg(i);
      conv << a;
    }
    conv << user(QStringLiteral("Last one"));
    const Reply r = finish(s, s.send(request(conv, 16)));
    QVERIFY(r.message.stats.dropped_messages > 0);
    QVERIFY(r.message.stats.prompt_tokens + 16 <= 256);

    // With dropping turned off the same conversation is refused with the token counts, and the session
    // goes on serving.
    ChatRequest refuse = request(conv, 16);
    refuse.settings.drop_oldest = false;
    QSignalSpy failed(&s, &ChatSession::replyFailed);
    s.send(refuse);
    QVERIFY(failed.wait(30000));
    const QString message = failed.takeFirst().at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("context holds 256")), qPrintable(message));
    const Reply again = finish(s, s.send(request({user(QStringLiteral("Last one"))}, 8)));
    QCOMPARE(again.message.stats.dropped_messages, 0);
  }

  void noModelFailsTheReply() {
    ChatSession s;
    QSignalSpy failed(&s, &ChatSession::replyFailed);
    s.send(request({user(QStringLiteral("hello"))}, 8));
    QVERIFY(failed.wait(10000));
    QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("model")));
    QVERIFY(!s.isGenerating());
  }

  void repliesRegenerationsAndEditsAreStored() {
    r1::test::TempDir tmp;
    const QString db = qpath(tmp / "runs.sqlite");
    RunStore store(db);
    const qint64 conv = store.createConversation(QStringLiteral("test"), QStringLiteral("qwen2-tied"));
    ChatSession s(db);
    QVERIFY(load(s, qpath(r1::test::chat_fixture_model())));

    QVector<ChatMessage> msgs{user(QStringLiteral("first question"))};
    const Reply a = finish(s, s.send(request(msgs, 10, conv)));
    QVERIFY(a.message.id > 0);
    QCOMPARE(store.messageCount(conv), 2);

    // Regenerate: the same question again, the old reply replaced.
    ChatRequest regen = request(msgs, 10, conv);
    regen.persist_from = 1;
    regen.settings.seed = 99;
    const Reply b = finish(s, s.send(regen));
    auto stored = store.messages(conv);
    QCOMPARE(stored.size(), 2);
    QCOMPARE(stored[1].id, b.message.id);
    QCOMPARE(stored[1].reasoning, b.message.reasoning);
    QCOMPARE(stored[1].stats.completion_tokens, b.message.stats.completion_tokens);

    // Edit the question and resend: the conversation is rewritten from there.
    ChatRequest edit = request({user(QStringLiteral("edited question"))}, 10, conv);
    edit.persist_from = 0;
    finish(s, s.send(edit));
    stored = store.messages(conv);
    QCOMPARE(stored.size(), 2);
    QCOMPARE(stored[0].content, QStringLiteral("edited question"));
    QCOMPARE(stored[1].role, QStringLiteral("assistant"));
    QVERIFY(!stored[1].stats.stop_reason.isEmpty());
  }
};

QTEST_GUILESS_MAIN(TestChatSession)
#include "tst_chat_session.moc"
