// Exports: a stored conversation with a reasoning reply as Markdown (the thinking as a quoted block before
// the answer, the reply's figures under it) and as JSON (reasoning_content, stats); a GRPO run's stored
// config, exported, re-launches through `r1wb train grpo --config` with the same effective options; a config
// file's unknown key is an error naming it and the file; options on the command line win over the file.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest/QtTest>

#include "core/chat_export.h"
#include "core/run_config_export.h"
#include "core/run_store.h"
#include "testlib/test_support.h"

namespace {

const char* kTinyModel = R1WB_SOURCE_DIR "/resources/models/r1-tiny";

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

QString readText(const std::filesystem::path& p) {
  return QString::fromStdString(r1::test::read_bytes(p));
}

QJsonObject readJson(const std::filesystem::path& p) {
  QJsonParseError error;
  const QJsonDocument doc =
      QJsonDocument::fromJson(QByteArray::fromStdString(r1::test::read_bytes(p)), &error);
  if (error.error != QJsonParseError::NoError || !doc.isObject())
    qWarning("%s: %s", p.c_str(), qPrintable(error.errorString()));
  return doc.object();
}

void writeJson(const std::filesystem::path& p, const QJsonObject& o) {
  r1::test::write_bytes(p, QJsonDocument(o).toJson().toStdString());
}

// Numbers compare by value: a stored config holds 8 where a file read back may hold 8.0.
bool sameValue(const QJsonValue& a, const QJsonValue& b) {
  if (a.isDouble() && b.isDouble()) return a.toDouble() == b.toDouble();
  return a == b;
}

r1::test::ProcessResult grpo(std::vector<std::string> args) {
  args.insert(args.begin(), {"train", "grpo"});
  return r1::test::run_program("r1wb", args);
}

}  // namespace

class TestExports : public QObject {
  Q_OBJECT

  r1::app::ReplyStats replyStats() const {
    r1::app::ReplyStats s;
    s.prompt_tokens = 31;
    s.completion_tokens = 57;
    s.thinking_tokens = 44;
    s.tokens_per_second = 123.4;
    s.first_token_seconds = 0.021;
    s.stop_reason = QStringLiteral("eos");
    s.context_used = 88;
    s.context_max = 512;
    s.model = QStringLiteral("r1-tiny");
    s.device = QStringLiteral("cpu");
    return s;
  }

  // A conversation: a question, a reply with reasoning over two paragraphs, a follow-up, a reply without.
  qint64 storeConversation(r1::app::RunStore& store) const {
    const qint64 id = store.createConversation(QStringLiteral("Countdown to 95"), QStringLiteral("r1-tiny"));
    r1::app::ChatMessage user{0, QStringLiteral("user"), QStringLiteral("Make 95 from 1, 20 and 5."), {}, {}};
    r1::app::ChatMessage reply{0, QStringLiteral("assistant"),
                               QStringLiteral("<answer>(20 - 1) * 5</answer>"),
                               QStringLiteral("20-1=19\n\n19*5=95"), replyStats()};
    r1::app::ChatMessage again{0, QStringLiteral("user"), QStringLiteral("Thanks"), {}, {}};
    r1::app::ChatMessage plain{0, QStringLiteral("assistant"), QStringLiteral("You are welcome."), {}, {}};
    plain.stats.completion_tokens = 4;
    plain.stats.stop_reason = QStringLiteral("eos");
    store.replaceMessagesFrom(id, 0, {user, reply, again, plain});
    return id;
  }

 private slots:
  void conversationAsMarkdown() {
    r1::test::TempDir tmp;
    r1::app::RunStore store(qpath(tmp / "runs.sqlite"));
    const qint64 id = storeConversation(store);
    r1::app::exportConversation(store, id, qpath(tmp / "chat.md"));
    const QString md = readText(tmp / "chat.md");
    QVERIFY2(md.startsWith(QStringLiteral("# Countdown to 95\n")), qPrintable(md));
    QVERIFY(md.contains(QStringLiteral("- Model: r1-tiny")));
    // Roles in order, the reasoning quoted line by line (its blank line too) before the answer.
    const qsizetype user = md.indexOf(QStringLiteral("## User\n\nMake 95 from 1, 20 and 5."));
    const qsizetype thinking =
        md.indexOf(QStringLiteral("## Assistant\n\n> **Thinking**\n>\n> 20-1=19\n>\n> 19*5=95\n"));
    const qsizetype answer = md.indexOf(QStringLiteral("\n<answer>(20 - 1) * 5</answer>\n"));
    QVERIFY2(user >= 0 && thinking > user && answer > thinking, qPrintable(md));
    QCOMPARE(md.count(QStringLiteral("**Thinking**")), 1);  // the plain reply has none
    // The reply's figures follow its answer.
    const qsizetype stats = md.indexOf(QStringLiteral("57 tokens (44 thinking) · 123.4 tokens/s"));
    QVERIFY2(stats > answer, qPrintable(md));
    QVERIFY(md.indexOf(QStringLiteral("stop: eos"), stats) > stats);
    QVERIFY(md.indexOf(QStringLiteral("context 88 / 512"), stats) > stats);
    QVERIFY(md.indexOf(QStringLiteral("You are welcome.")) > stats);
  }

  void conversationAsJson_data() {
    QTest::addColumn<QString>("name");
    QTest::newRow("json") << QStringLiteral("chat.json");
    QTest::newRow("upper-case suffix") << QStringLiteral("chat.JSON");
  }

  void conversationAsJson() {
    QFETCH(QString, name);
    r1::test::TempDir tmp;
    r1::app::RunStore store(qpath(tmp / "runs.sqlite"));
    const qint64 id = storeConversation(store);
    r1::app::exportConversation(store, id, qpath(tmp / name.toStdString()));
    const QJsonObject doc = readJson(tmp / name.toStdString());
    QCOMPARE(doc.value(QStringLiteral("title")).toString(), QStringLiteral("Countdown to 95"));
    QCOMPARE(doc.value(QStringLiteral("model")).toString(), QStringLiteral("r1-tiny"));
    const QJsonArray messages = doc.value(QStringLiteral("messages")).toArray();
    QCOMPARE(messages.size(), 4);
    const QStringList roles = {QStringLiteral("user"), QStringLiteral("assistant"), QStringLiteral("user"),
                               QStringLiteral("assistant")};
    for (int i = 0; i < 4; ++i)
      QCOMPARE(messages[i].toObject().value(QStringLiteral("role")).toString(), roles[i]);
    const QJsonObject reply = messages[1].toObject();
    QCOMPARE(reply.value(QStringLiteral("content")).toString(),
             QStringLiteral("<answer>(20 - 1) * 5</answer>"));
    QCOMPARE(reply.value(QStringLiteral("reasoning_content")).toString(),
             QStringLiteral("20-1=19\n\n19*5=95"));
    const QJsonObject stats = reply.value(QStringLiteral("stats")).toObject();
    QCOMPARE(stats.value(QStringLiteral("completion_tokens")).toInteger(), 57);
    QCOMPARE(stats.value(QStringLiteral("thinking_tokens")).toInteger(), 44);
    QCOMPARE(stats.value(QStringLiteral("tokens_per_second")).toDouble(), 123.4);
    QCOMPARE(stats.value(QStringLiteral("stop_reason")).toString(), QStringLiteral("eos"));
    QVERIFY(!messages[0].toObject().contains(QStringLiteral("reasoning_content")));
    QCOMPARE(messages[3].toObject().value(QStringLiteral("reasoning_content")).toString(), QString());
  }

  void exportFailuresNameWhatIsWrong() {
    r1::test::TempDir tmp;
    r1::app::RunStore store(qpath(tmp / "runs.sqlite"));
    const qint64 id = storeConversation(store);
    QVERIFY_THROWS_EXCEPTION(r1::app::StoreError,
                             r1::app::exportConversation(store, id + 1, qpath(tmp / "x.md")));
    const QString unwritable = qpath(tmp / "no-such-folder" / "chat.md");
    try {
      r1::app::exportConversation(store, id, unwritable);
      QFAIL("expected ExportError");
    } catch (const r1::app::ExportError& e) {
      QVERIFY2(QString::fromUtf8(e.what()).contains(unwritable), e.what());
    }
    QVERIFY_THROWS_EXCEPTION(r1::app::StoreError,
                             r1::app::exportRunConfig(store, 42, qpath(tmp / "run.json")));
  }

  // A real run records its config in the store; that config, exported, is what --config starts from.
  void storedRunConfigRelaunches() {
    r1::test::TempDir tmp;
    const std::string store_path = (tmp / "runs.sqlite").string();
    const r1::test::ProcessResult run = grpo({"--model",
                                              kTinyModel,
                                              "--group-size",
                                              "2",
                                              "--prompts-per-step",
                                              "2",
                                              "--max-completion",
                                              "8",
                                              "--steps",
                                              "1",
                                              "--lr",
                                              "3e-5",
                                              "--temperature",
                                              "1.3",
                                              "--seed",
                                              "7",
                                              "--loss",
                                              "dapo",
                                              "--epsilon-high",
                                              "0.28",
                                              "--store",
                                              store_path,
                                              "--quiet"});
    QVERIFY2(run.exit_code == 0, run.err.c_str());
    r1::app::RunStore store(QString::fromStdString(store_path));
    const QVector<r1::app::RunInfo> runs = store.runs();
    QCOMPARE(runs.size(), 1);
    const auto exported = tmp / "run.json";
    r1::app::exportRunConfig(store, runs[0].id, qpath(exported));
    const QJsonObject file = readJson(exported);
    QCOMPARE(file.value(QStringLiteral("model")).toString(), runs[0].model);
    QCOMPARE(file.value(QStringLiteral("seed")).toInteger(), 7);

    const auto effective = tmp / "effective.json";
    const r1::test::ProcessResult save =
        grpo({"--config", exported.string(), "--save-config", effective.string()});
    QVERIFY2(save.exit_code == 0, save.err.c_str());
    const QJsonObject relaunched = readJson(effective);
    for (auto it = file.begin(); it != file.end(); ++it)
      QVERIFY2(
          sameValue(relaunched.value(it.key()), it.value()),
          qPrintable(
              QStringLiteral("%1: stored %2, relaunched %3")
                  .arg(
                      it.key(), QJsonDocument(QJsonArray{it.value()}).toJson(QJsonDocument::Compact),
                      QJsonDocument(QJsonArray{relaunched.value(it.key())}).toJson(QJsonDocument::Compact))));
    QCOMPARE(relaunched.value(QStringLiteral("lr")).toDouble(), 3e-5);
    QCOMPARE(relaunched.value(QStringLiteral("loss")).toString(), QStringLiteral("dapo"));

    // The effective config re-launches as itself.
    const auto again = tmp / "again.json";
    QCOMPARE(grpo({"--config", effective.string(), "--save-config", again.string()}).exit_code, 0);
    QCOMPARE(readJson(again), relaunched);
  }

  void unknownKeyIsAnErrorNamingIt() {
    r1::test::TempDir tmp;
    const auto config = tmp / "typo.json";
    writeJson(config, {{QStringLiteral("model"), QString::fromUtf8(kTinyModel)},
                       {QStringLiteral("group_size"), 4},
                       {QStringLiteral("learning_rate"), 0.1}});
    const auto out = tmp / "out.json";
    const r1::test::ProcessResult r = grpo({"--config", config.string(), "--save-config", out.string()});
    QCOMPARE(r.exit_code, 1);
    QVERIFY2(r.err.find("\"learning_rate\"") != std::string::npos, r.err.c_str());
    QVERIFY2(r.err.find(config.string()) != std::string::npos, r.err.c_str());
    QVERIFY(!std::filesystem::exists(out));
  }

  void commandLineWinsOverTheFile() {
    r1::test::TempDir tmp;
    const auto config = tmp / "base.json";
    writeJson(config, {{QStringLiteral("model"), QString::fromUtf8(kTinyModel)},
                       {QStringLiteral("task"), QStringLiteral("arithmetic")},
                       {QStringLiteral("steps"), 5},
                       {QStringLiteral("lr"), 0.001},
                       {QStringLiteral("dynamic_sampling"), true}});
    const auto from_file = tmp / "from_file.json";
    QCOMPARE(grpo({"--config", config.string(), "--save-config", from_file.string()}).exit_code, 0);
    const auto overridden = tmp / "overridden.json";
    const r1::test::ProcessResult r =
        grpo({"--config", config.string(), "--steps", "9", "--save-config", overridden.string()});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const QJsonObject a = readJson(from_file), b = readJson(overridden);
    QCOMPARE(a.value(QStringLiteral("steps")).toInteger(), 5);
    QCOMPARE(b.value(QStringLiteral("steps")).toInteger(), 9);
    for (const QJsonObject& c : {a, b}) {
      QCOMPARE(c.value(QStringLiteral("task")).toString(), QStringLiteral("arithmetic"));
      QCOMPARE(c.value(QStringLiteral("lr")).toDouble(), 0.001);
      QCOMPARE(c.value(QStringLiteral("dynamic_sampling")).toBool(), true);
    }
    QJsonObject rest = b;
    rest.insert(QStringLiteral("steps"), 5);
    QCOMPARE(rest, a);  // nothing else moved
  }
};

QTEST_GUILESS_MAIN(TestExports)
#include "tst_exports.moc"
