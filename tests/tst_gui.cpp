// The workbench window under QT_QPA_PLATFORM=offscreen: a chat shows a reply with its thinking block and
// stats, Stop (Esc) ends a reply, the Memory page shows the KV cache filling during a chat, a bad model
// folder shows the engine's error while the window stays usable, and conversations come back from the store.
#include <QApplication>
#include <QComboBox>
#include <QListView>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QToolButton>
#include <QtTest/QtTest>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "chat/chat_page.h"
#include "chat/chat_settings_panel.h"
#include "chat/message_widgets.h"
#include "chat/thinking_block.h"
#include "chat_test_model.h"
#include "core/chat_session.h"
#include "core/run_store.h"
#include "engine/core/files.h"
#include "main_window.h"
#include "memory/memory_page.h"
#include "testlib/test_support.h"

using namespace r1::ui;

namespace {

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

// Writes `text` into a named pipe once a reader has opened it (polling for up to 30 s), then closes it.
bool feed_pipe(const std::filesystem::path& pipe, const std::string& text) {
  int fd = -1;
  for (int i = 0; i < 3000 && fd < 0; ++i) {
    fd = ::open(pipe.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO until the reader is there
    if (fd < 0 && errno != ENXIO) return false;
    if (fd < 0) QTest::qWait(10);
  }
  if (fd < 0 || ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) return false;
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += size_t(n);
  }
  return ::close(fd) == 0;
}

}  // namespace

class TestGui : public QObject {
  Q_OBJECT

  std::unique_ptr<r1::test::TempDir> tmp_;
  QString slow_model_;

  std::unique_ptr<MainWindow> window(const QString& model, const QString& store = {}) {
    MainWindowOptions o;
    o.model_dir = model;
    o.store_path = store.isEmpty() ? qpath(*tmp_ / "runs.sqlite") : store;
    o.device = QStringLiteral("cpu");
    o.restore_layout = false;
    auto w = std::make_unique<MainWindow>(o);
    w->show();
    return w;
  }

  static bool waitLoaded(MainWindow& w) {
    QElapsedTimer clock;
    clock.start();
    while (w.session()->isLoading() && clock.elapsed() < 60000) QTest::qWait(5);
    return !w.session()->isLoading() && w.session()->hasModel();
  }

  static void setMaxTokens(MainWindow& w, int n) {
    r1::app::ChatSettings s = w.chatPage()->settingsPanel()->settings();
    s.max_tokens = n;
    w.chatPage()->settingsPanel()->setSettings(s);
  }

  // Types into the composer and sends with Ctrl+Enter, as a person would.
  static void type(MainWindow& w, const QString& text) {
    QPlainTextEdit* composer = w.chatPage()->composer();
    composer->setFocus();
    QTest::keyClicks(composer, text);
    QTest::keyClick(composer, Qt::Key_Return, Qt::ControlModifier);
  }

 private slots:
  void initTestCase() {
    tmp_ = std::make_unique<r1::test::TempDir>();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, qpath(*tmp_ / "settings"));
    QStandardPaths::setTestModeEnabled(true);
    slow_model_ = qpath(r1::test::write_slow_chat_model(*tmp_ / "slow"));
  }

  void chatShowsThinkingBlockAndStats() {
    auto w = window(qpath(r1::test::chat_fixture_model()));
    QVERIFY(waitLoaded(*w));
    QVERIFY(w->statusText().contains(QStringLiteral("qwen2-tied")));
    setMaxTokens(*w, 40);
    QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
    type(*w, QStringLiteral("What is 2+2?"));
    QVERIFY(w->chatPage()->composer()->toPlainText().isEmpty());
    QVERIFY(finished.wait(60000));
    QTest::qWait(50);

    ReplyWidget* reply = w->chatPage()->lastReply();
    QVERIFY(reply);
    QVERIFY(!reply->isStreaming());
    ThinkingBlock* thinking = reply->thinkingBlock();
    QVERIFY(thinking->isVisible());
    QVERIFY2(thinking->headerText().startsWith(QStringLiteral("Thought for")),
             qPrintable(thinking->headerText()));
    QVERIFY(!thinking->isExpanded());
    QVERIFY(!thinking->text().isEmpty());
    QTest::mouseClick(thinking->findChild<QToolButton*>(QStringLiteral("thinkingHeader")), Qt::LeftButton);
    QVERIFY(thinking->isExpanded());

    const r1::app::ChatMessage m = finished.first().at(1).value<r1::app::ChatMessage>();
    QVERIFY2(reply->statsText().contains(QStringLiteral("%1 tokens").arg(m.stats.completion_tokens)),
             qPrintable(reply->statsText()));
    QVERIFY(reply->statsText().contains(QStringLiteral("stop:")));
    if (m.stats.tokens_per_second > 0) {
      QVERIFY2(reply->costText().contains(QStringLiteral("per million")), qPrintable(reply->costText()));
      QVERIFY(reply->costText().contains(QStringLiteral("$15.00")));
      QVERIFY(reply->costText().contains(QStringLiteral("$0.55")));
    }
    QVERIFY(w->chatPage()->contextBar()->value() > 0);
    QCOMPARE(w->chatPage()->conversationList()->model()->rowCount(), 1);
  }

  void escapeStopsAReply() {
    auto w = window(slow_model_);
    QVERIFY(waitLoaded(*w));
    setMaxTokens(*w, 1500);
    QSignalSpy delta(w->session(), &r1::app::ChatSession::textDelta);
    QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
    type(*w, QStringLiteral("Count slowly."));
    QVERIFY(delta.wait(30000));
    auto* stop = w->chatPage()->findChild<QPushButton*>(QStringLiteral("stop"));
    auto* send = w->chatPage()->findChild<QPushButton*>(QStringLiteral("send"));
    QVERIFY(stop->isVisible());
    QVERIFY(!send->isVisible());
    QTest::keyClick(w.get(), Qt::Key_Escape);
    QVERIFY(finished.wait(30000));
    const auto m = finished.first().at(1).value<r1::app::ChatMessage>();
    QCOMPARE(m.stats.stop_reason, QStringLiteral("cancelled"));
    QVERIFY(m.stats.completion_tokens < 1500);
    QTest::qWait(20);
    QVERIFY(w->chatPage()->lastReply()->statsText().contains(QStringLiteral("stopped")));
    QVERIFY(send->isVisible() && send->isEnabled());
    QVERIFY(!stop->isVisible());
  }

  void memoryPageShowsKvDuringChat() {
    auto w = window(slow_model_);
    QVERIFY(waitLoaded(*w));
    MemoryPage* memory = w->memoryPage();
    QVERIFY(memory->kv().bytes_per_token > 0);
    QCOMPARE(memory->kv().used_tokens, qint64(0));
    w->pages()->setCurrentWidget(memory);
    setMaxTokens(*w, 1500);
    QSignalSpy kv(w->session(), &r1::app::ChatSession::kvChanged);
    QVERIFY(w->chatPage()->sendMessage(QStringLiteral("Tell me a long story.")));
    // While the reply streams, the page follows the cache as it fills.
    QTRY_VERIFY_WITH_TIMEOUT(kv.size() >= 3, 30000);
    QVERIFY(w->session()->isGenerating());
    const qint64 used = memory->kv().used_tokens;
    QVERIFY(used > 0);
    QTest::qWait(100);  // the plots redraw on a ~30 Hz timer
    QVERIFY(memory->plottedUsedBytes() > 0);
    QVERIFY2(memory->summaryText().contains(QStringLiteral("tokens planned")),
             qPrintable(memory->summaryText()));
    QTRY_VERIFY_WITH_TIMEOUT(memory->kv().used_tokens > used, 30000);
    QVERIFY(w->statusText().contains(QStringLiteral("KV cache")));
    QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
    w->chatPage()->stop();
    QVERIFY(finished.wait(30000));
  }

  void badModelFolderShowsErrorAndStaysUsable() {
    auto w = window(qpath(r1::test::chat_fixture_model()));
    QVERIFY(waitLoaded(*w));
    const auto bad = *tmp_ / "broken-model";
    r1::test::copy_dir(r1::test::chat_fixture_model(), bad);
    r1::test::write_bytes(bad / "config.json",
                          "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": \"big\"}");
    QSignalSpy failed(w->session(), &r1::app::ChatSession::loadFailed);
    w->loadModel(qpath(bad));
    QVERIFY(failed.wait(30000));
    QTest::qWait(20);
    QVERIFY(w->errorVisible());
    const QString engine_message = failed.first().at(1).toString();
    QVERIFY2(engine_message.contains(QStringLiteral("config.json")), qPrintable(engine_message));
    QVERIFY(w->errorText().contains(engine_message));
    QVERIFY(w->modelPicker()->isEnabled());
    QVERIFY(!w->loadProgress()->isVisible());
    QVERIFY(w->statusText().contains(QStringLiteral("qwen2-tied")));  // the model before is still in use

    setMaxTokens(*w, 8);
    QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
    type(*w, QStringLiteral("Still with me?"));
    QVERIFY(finished.wait(30000));

    w->loadModel(qpath(r1::test::chat_fixture_model()));
    QVERIFY(!w->errorVisible());
  }

  void cancelLoadingKeepsTheModel() {
    // The model to cancel has a named pipe for tokenizer.json: its load waits there until the test, having
    // clicked Cancel, feeds the pipe. So the click always lands while the load is in progress.
    const auto gated = *tmp_ / "gated";
    r1::test::copy_dir(slow_model_.toStdString(), gated);
    const std::string tokenizer = r1::read_text_file(gated / "tokenizer.json");
    std::filesystem::remove(gated / "tokenizer.json");
    QCOMPARE(::mkfifo((gated / "tokenizer.json").c_str(), 0600), 0);
    auto w = window(qpath(r1::test::chat_fixture_model()));
    QVERIFY(waitLoaded(*w));
    QSignalSpy cancelled(w->session(), &r1::app::ChatSession::loadCancelled);
    QSignalSpy loaded(w->session(), &r1::app::ChatSession::modelLoaded);
    QSignalSpy progress(w->session(), &r1::app::ChatSession::loadProgress);
    w->loadModel(qpath(gated));
    // The loader has announced the tokenizer: it is at the pipe, past the checks that come before it.
    const auto at_tokenizer = [&] {
      for (const auto& args : progress)
        if (args.at(0).toDouble() >= 0.1) return true;
      return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(at_tokenizer(), 30000);
    // A toolbar applies its widgets' visibility in its next layout pass, which a loaded machine may delay.
    QTRY_VERIFY_WITH_TIMEOUT(w->loadProgress()->isVisible(), 5000);
    auto* cancel = w->findChild<QPushButton*>(QStringLiteral("cancelLoad"));
    QVERIFY(cancel);
    QTRY_VERIFY_WITH_TIMEOUT(cancel->isVisible(), 5000);
    QTest::mouseClick(cancel, Qt::LeftButton);
    QVERIFY(feed_pipe(gated / "tokenizer.json", tokenizer));
    // A regular file takes the pipe's place, so that nothing opened after this (the window reads the
    // tokenizer of a model that did load) waits on it.
    r1::write_text_file_atomic(gated / "tokenizer.json", tokenizer);
    QVERIFY(cancelled.wait(30000));
    QVERIFY(loaded.isEmpty());
    QTest::qWait(20);
    QVERIFY(!w->loadProgress()->isVisible());
    QCOMPARE(w->session()->model().name, QStringLiteral("qwen2-tied"));
    QVERIFY(!w->errorVisible());
  }

  void regenerateEditAndReopen() {
    const QString store = qpath(*tmp_ / "reopen.sqlite");
    {
      auto w = window(qpath(r1::test::chat_fixture_model()), store);
      QVERIFY(waitLoaded(*w));
      setMaxTokens(*w, 12);
      QSignalSpy finished(w->session(), &r1::app::ChatSession::replyFinished);
      type(*w, QStringLiteral("first"));
      QVERIFY(finished.wait(30000));
      QTest::qWait(20);
      auto* regenerate = w->chatPage()->lastReply()->findChild<QToolButton*>(QStringLiteral("regenerate"));
      QVERIFY(regenerate && regenerate->isVisible());
      QTest::mouseClick(regenerate, Qt::LeftButton);
      QVERIFY(finished.wait(30000));
      QTest::qWait(20);
      QCOMPARE(w->chatPage()->replies().size(), 1);
      QCOMPARE(w->chatPage()->messages().size(), 2);

      auto* user = w->chatPage()->findChild<UserMessageWidget*>();
      QTest::mouseClick(user->findChild<QToolButton*>(QStringLiteral("edit")), Qt::LeftButton);
      auto* editor = user->findChild<QPlainTextEdit*>(QStringLiteral("editor"));
      editor->setPlainText(QStringLiteral("edited"));
      QTest::mouseClick(user->findChild<QPushButton*>(QStringLiteral("resend")), Qt::LeftButton);
      QVERIFY(finished.wait(30000));
      QTest::qWait(20);
      QCOMPARE(w->chatPage()->messages().value(0).content, QStringLiteral("edited"));
      QCOMPARE(w->chatPage()->messages().size(), 2);
    }
    r1::app::RunStore check(store);
    const auto conversations = check.conversations();
    QCOMPARE(conversations.size(), 1);
    const auto stored = check.messages(conversations[0].id);
    QCOMPARE(stored.size(), 2);
    QCOMPARE(stored[0].content, QStringLiteral("edited"));

    auto w = window(qpath(r1::test::chat_fixture_model()), store);
    QVERIFY(waitLoaded(*w));
    QListView* list = w->chatPage()->conversationList();
    QCOMPARE(list->model()->rowCount(), 1);
    list->setCurrentIndex(list->model()->index(0, 0));
    QCOMPARE(w->chatPage()->conversationId(), conversations[0].id);
    QCOMPARE(w->chatPage()->replies().size(), 1);
    ReplyWidget* reply = w->chatPage()->lastReply();
    if (!stored[1].reasoning.isEmpty())
      QVERIFY(reply->thinkingBlock()->headerText().startsWith(QStringLiteral("Thought for")));
    QVERIFY(reply->statsText().contains(QStringLiteral("tokens")));
  }
};

QTEST_MAIN(TestGui)
#include "tst_gui.moc"
