// The window's File menu under QT_QPA_PLATFORM=offscreen, on the built-in r1-tiny: "Export conversation…"
// writes the open conversation (a reply just generated) as Markdown or JSON by the file's suffix, and says
// why when there is none; "Export run config…" writes a stored run's config with its model; the "Local
// server" switch serves the loaded model over HTTP on the configured port, shows its address in the status
// bar and stops serving when switched off.
#include <QAction>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QtTest/QtTest>

#include "chat/chat_page.h"
#include "core/chat_session.h"
#include "core/local_server.h"
#include "core/run_store.h"
#include "main_window.h"
#include "testlib/test_support.h"

using namespace r1::ui;

namespace {

constexpr int kTimeoutMs = 60000;
const char* kTinyModel = R1WB_SOURCE_DIR "/resources/models/r1-tiny";

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

// One HTTP/1.1 request over a fresh connection; the whole response, or empty when nothing answers.
QByteArray httpGet(int port, const QByteArray& path) {
  QTcpSocket socket;
  socket.connectToHost(QStringLiteral("127.0.0.1"), quint16(port));
  if (!socket.waitForConnected(5000)) return {};
  socket.write("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  QByteArray response;
  while (socket.state() == QAbstractSocket::ConnectedState && socket.waitForReadyRead(10000))
    response += socket.readAll();
  return response + socket.readAll();
}

}  // namespace

class TestExportsGui : public QObject {
  Q_OBJECT

  std::unique_ptr<r1::test::TempDir> tmp_;

  std::unique_ptr<MainWindow> window() {
    MainWindowOptions o;
    o.model_dir = QString::fromUtf8(kTinyModel);
    o.store_path = qpath(*tmp_ / "runs.sqlite");
    o.device = QStringLiteral("cpu");
    o.restore_layout = false;
    auto w = std::make_unique<MainWindow>(o);
    w->show();
    return w;
  }

 private slots:
  void initTestCase() {
    tmp_ = std::make_unique<r1::test::TempDir>();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, qpath(*tmp_ / "settings"));
    QStandardPaths::setTestModeEnabled(true);
  }

  void exportsTheOpenConversation() {
    auto w = window();
    QTRY_VERIFY_WITH_TIMEOUT(w->session()->hasModel() && !w->session()->isLoading(), kTimeoutMs);
    QVERIFY(!w->exportConversation(qpath(*tmp_ / "none.md")));  // nothing open yet
    QVERIFY(w->errorVisible());
    QVERIFY2(w->errorText().contains(QStringLiteral("no conversation")), qPrintable(w->errorText()));
    w->hideError();

    QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
    const QString question =
        QStringLiteral("Using the numbers [1, 20, 5], create an equation that equals 95.");
    QVERIFY(w->chatPage()->sendMessage(question));
    QVERIFY(finished.wait(kTimeoutMs));
    QTRY_VERIFY(w->chatPage()->conversationId() > 0);

    const auto json_path = *tmp_ / "chat.json";
    QVERIFY2(w->exportConversation(qpath(json_path)), qPrintable(w->errorText()));
    const QJsonObject doc =
        QJsonDocument::fromJson(QByteArray::fromStdString(r1::test::read_bytes(json_path))).object();
    const QJsonArray messages = doc.value(QStringLiteral("messages")).toArray();
    QCOMPARE(messages.size(), 2);
    QCOMPARE(messages[0].toObject().value(QStringLiteral("content")).toString(), question);
    const QJsonObject reply = messages[1].toObject();
    QCOMPARE(reply.value(QStringLiteral("role")).toString(), QStringLiteral("assistant"));
    QVERIFY(reply.contains(QStringLiteral("reasoning_content")));
    QVERIFY(
        reply.value(QStringLiteral("stats")).toObject().value(QStringLiteral("completion_tokens")).toInt() >
        0);

    const auto md_path = *tmp_ / "chat.md";
    QVERIFY(w->exportConversation(qpath(md_path)));
    const QString md = QString::fromStdString(r1::test::read_bytes(md_path));
    QVERIFY2(md.contains(QStringLiteral("## User\n\n") + question), qPrintable(md));
    QVERIFY(md.contains(QStringLiteral("## Assistant")));
  }

  void exportsARunConfig() {
    qint64 run = 0;
    {
      r1::app::RunStore store(qpath(*tmp_ / "runs.sqlite"));
      run = store.createRun(QStringLiteral("grpo"), QStringLiteral("/models/policy"),
                            {{QStringLiteral("group_size"), 4}, {QStringLiteral("seed"), 11}});
    }
    auto w = window();
    const auto path = *tmp_ / "run.json";
    QVERIFY2(w->exportRunConfig(run, qpath(path)), qPrintable(w->errorText()));
    const QJsonObject config =
        QJsonDocument::fromJson(QByteArray::fromStdString(r1::test::read_bytes(path))).object();
    QCOMPARE(config.value(QStringLiteral("model")).toString(), QStringLiteral("/models/policy"));
    QCOMPARE(config.value(QStringLiteral("group_size")).toInt(), 4);
    QCOMPARE(config.value(QStringLiteral("seed")).toInt(), 11);
    QVERIFY(!w->exportRunConfig(run + 100, qpath(*tmp_ / "missing.json")));
    QVERIFY(w->errorVisible());
  }

  void localServerSwitch() {
    QSettings().setValue(QStringLiteral("server/port"), 0);  // any free port
    auto w = window();
    QTRY_VERIFY_WITH_TIMEOUT(w->session()->hasModel() && !w->session()->isLoading(), kTimeoutMs);
    QCOMPARE(w->serverStatusText(), QStringLiteral("Server: off"));
    QSignalSpy started(w->localServer(), &r1::app::LocalServer::started);
    w->localServerAction()->trigger();
    QVERIFY(w->localServerAction()->isChecked());
    QVERIFY(started.wait(kTimeoutMs));
    const int port = w->localServer()->port();
    QVERIFY(port > 0);
    QVERIFY2(w->serverStatusText().contains(QStringLiteral("127.0.0.1:%1").arg(port)),
             qPrintable(w->serverStatusText()));
    QCOMPARE(w->localServer()->modelDir(), w->session()->model().dir);

    const QByteArray health = httpGet(port, "/health");
    QVERIFY2(health.startsWith("HTTP/1.1 200"), health.constData());
    const QByteArray models = httpGet(port, "/v1/models");
    QVERIFY2(models.contains("\"object\":\"list\"") || models.contains("\"object\": \"list\""),
             models.constData());

    QSignalSpy stopped(w->localServer(), &r1::app::LocalServer::stopped);
    w->localServerAction()->trigger();
    QCOMPARE(stopped.size(), 1);
    QVERIFY(!w->localServerAction()->isChecked());
    QCOMPARE(w->serverStatusText(), QStringLiteral("Server: off"));
    QVERIFY(httpGet(port, "/health").isEmpty());
  }
};

QTEST_MAIN(TestExportsGui)
#include "tst_exports_gui.moc"
