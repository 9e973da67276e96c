#include "screenshot.h"

#include <QApplication>
#include <QPixmap>
#include <QTabWidget>
#include <cstdio>

#include "chat/chat_page.h"
#include "chat/chat_settings_panel.h"
#include "chat/message_widgets.h"
#include "chat/thinking_block.h"
#include "core/chat_session.h"
#include "main_window.h"

namespace r1::ui {
namespace {

constexpr int kMaxRetries = 24;

}  // namespace

ScreenshotScenario::ScreenshotScenario(MainWindow* window, const QString& out_dir, QObject* parent)
    : QObject(parent), window_(window), out_(out_dir) {
  prompts_ = {tr("What is 17 × 24? Think it through, then give the number."),
              tr("Write it as a one-line Python expression.")};
  deadline_.setSingleShot(true);
  deadline_.setInterval(180000);
  connect(&deadline_, &QTimer::timeout, this,
          [this] { fail(tr("the scripted chat did not finish in time")); });
}

void ScreenshotScenario::start() {
  if (!out_.mkpath(QStringLiteral("."))) return fail(tr("cannot create %1").arg(out_.path()));
  deadline_.start();
  r1::app::ChatSession* s = window_->session();
  connect(s, &r1::app::ChatSession::modelLoaded, this, &ScreenshotScenario::onModelLoaded);
  connect(s, &r1::app::ChatSession::loadFailed, this, &ScreenshotScenario::onLoadFailed);
  connect(s, &r1::app::ChatSession::replyFinished, this, &ScreenshotScenario::onReplyFinished);
  connect(s, &r1::app::ChatSession::replyFailed, this,
          [this](quint64, const QString& m) { fail(tr("a reply failed: %1").arg(m)); });
  if (s->hasModel() && !s->isLoading()) onModelLoaded();
}

void ScreenshotScenario::onModelLoaded() {
  if (started_chat_) return;
  started_chat_ = true;
  r1::app::ChatSettings settings = window_->chatPage()->settingsPanel()->settings();
  settings.system_prompt = tr("You are a careful assistant. Reason inside <think> … </think>, then answer.");
  settings.temperature = 0.8;
  settings.max_tokens = 96;
  settings.seed = 11;
  window_->chatPage()->settingsPanel()->setSettings(settings);
  window_->chatPage()->setHourlyPrice(2.5);
  QTimer::singleShot(0, this, &ScreenshotScenario::sendNext);
}

void ScreenshotScenario::onLoadFailed(const QString&, const QString& message) {
  save(QStringLiteral("load-error.png"));
  fail(tr("the model did not load: %1").arg(message));
}

void ScreenshotScenario::sendNext() {
  if (sent_ >= prompts_.size()) return capture();
  if (!window_->chatPage()->sendMessage(prompts_[sent_]))
    return fail(tr("the chat page refused the message"));
  ++sent_;
}

void ScreenshotScenario::onReplyFinished(quint64, const r1::app::ChatMessage& reply) {
  // A model with random weights closes its thought only now and then: regenerate the first reply (a new seed
  // each time) until it has an answer to show beside its thinking, a few times at most.
  if (sent_ == 1 && reply.content.isEmpty() && retries_ < kMaxRetries) {
    ++retries_;
    r1::app::ChatSettings s = window_->chatPage()->settingsPanel()->settings();
    s.seed += 1;
    window_->chatPage()->settingsPanel()->setSettings(s);
    QTimer::singleShot(50, window_->chatPage(), &ChatPage::regenerate);
    return;
  }
  // Let the page apply the reply before the next step.
  QTimer::singleShot(50, this, &ScreenshotScenario::sendNext);
}

bool ScreenshotScenario::save(const QString& name) {
  QApplication::processEvents();
  const QString path = out_.filePath(name);
  if (!window_->grab().save(path)) {
    std::fprintf(stderr, "r1-workbench: cannot write %s\n", qPrintable(path));
    return false;
  }
  std::printf("%s\n", qPrintable(path));
  return true;
}

void ScreenshotScenario::capture() {
  const QList<ReplyWidget*> replies = window_->chatPage()->replies();
  if (!replies.isEmpty()) replies.first()->thinkingBlock()->setExpanded(true);  // one open, one collapsed
  window_->pages()->setCurrentWidget(window_->chatPage());
  // Page switches and the memory plots' queued replots need a few event-loop turns before a grab.
  QTimer::singleShot(200, this, [this] {
    bool ok = save(QStringLiteral("chat.png"));
    window_->pages()->setCurrentIndex(1);
    QTimer::singleShot(200, this, [this, ok]() mutable {
      ok = save(QStringLiteral("memory.png")) && ok;
      window_->setDarkPalette(true);
      window_->pages()->setCurrentIndex(0);
      QTimer::singleShot(200, this, [this, ok]() mutable {
        ok = save(QStringLiteral("chat-dark.png")) && ok;
        window_->pages()->setCurrentIndex(1);
        QTimer::singleShot(200, this, [this, ok]() mutable {
          ok = save(QStringLiteral("memory-dark.png")) && ok;
          window_->setDarkPalette(false);
          deadline_.stop();
          emit finished(ok ? 0 : 1);
        });
      });
    });
  });
}

void ScreenshotScenario::fail(const QString& message) {
  deadline_.stop();
  std::fprintf(stderr, "r1-workbench --screenshot: %s\n", qPrintable(message));
  emit finished(1);
}

}  // namespace r1::ui
