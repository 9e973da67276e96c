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
#include "core/finetune_options.h"
#include "core/finetune_session.h"
#include "finetune/finetune_form.h"
#include "finetune/finetune_page.h"
#include "main_window.h"
#include "memory/memory_page.h"
#include "traces/traces_page.h"

namespace r1::ui {
namespace {

constexpr int kMaxRetries = 24;
constexpr int kFinetuneRuns = 2;

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
  r1::app::FinetuneSession* f = window_->finetunePage()->session();
  connect(f, &r1::app::FinetuneSession::runStarted, this, [this](qint64 id) { finetune_runs_ << id; });
  connect(f, &r1::app::FinetuneSession::finished, this, &ScreenshotScenario::onFinetuneEnded);
  connect(f, &r1::app::FinetuneSession::failed, this,
          [this](const QString& m) { fail(tr("a fine-tune run failed: %1").arg(m)); });
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
  if (sent_ >= prompts_.size()) return startFinetune();
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

// Two short runs of the built-in model with tiny settings (a few seconds each); the second, at a higher
// learning rate, is shown with the first overlaid.
void ScreenshotScenario::startFinetune() {
  FinetunePage* page = window_->finetunePage();
  window_->pages()->setCurrentWidget(page);
  r1::app::FinetuneOptions o = FinetuneForm::defaults();
  if (o.model_dir.isEmpty()) return fail(tr("the built-in r1-tiny was not found"));
  o.group_size = 4;
  o.prompts_per_step = 2;
  o.max_completion = 24;
  o.steps = 12;
  o.seed = 3;
  o.lr = finetune_runs_.isEmpty() ? 5e-5 : 2e-4;
  page->form()->setOptions(o);
  page->form()->setCheckpointsWanted(false);
  if (!page->start()) fail(tr("the fine-tune page refused to start: %1").arg(page->errorText()));
}

void ScreenshotScenario::onFinetuneEnded(const QString& outcome) {
  if (outcome != QLatin1String("finished")) return fail(tr("a fine-tune run ended %1").arg(outcome));
  if (finetune_runs_.size() < kFinetuneRuns) {
    QTimer::singleShot(50, this, &ScreenshotScenario::startFinetune);
    return;
  }
  window_->finetunePage()->overlayRun(finetune_runs_.first());
  window_->tracesPage()->showRun(finetune_runs_.last());
  capture();
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
  // Each page is shown, then grabbed a few event-loop turns later (page switches and the plots' queued
  // replots need them); then the same in the dark palette.
  shots_ = {{QStringLiteral("chat.png"), window_->chatPage()},
            {QStringLiteral("finetune.png"), window_->finetunePage()},
            {QStringLiteral("traces.png"), window_->tracesPage()},
            {QStringLiteral("memory.png"), window_->memoryPage()},
            {QStringLiteral("chat-dark.png"), window_->chatPage()},
            {QStringLiteral("finetune-dark.png"), window_->finetunePage()},
            {QStringLiteral("traces-dark.png"), window_->tracesPage()},
            {QStringLiteral("memory-dark.png"), window_->memoryPage()}};
  shot_ok_ = true;
  nextShot();
}

void ScreenshotScenario::nextShot() {
  if (shots_.isEmpty()) {
    window_->setDarkPalette(false);
    deadline_.stop();
    emit finished(shot_ok_ ? 0 : 1);
    return;
  }
  const auto [name, page] = shots_.takeFirst();
  if (name.endsWith(QLatin1String("-dark.png"))) window_->setDarkPalette(true);
  window_->pages()->setCurrentWidget(page);
  QTimer::singleShot(300, this, [this, name] {
    shot_ok_ = save(name) && shot_ok_;
    nextShot();
  });
}

void ScreenshotScenario::fail(const QString& message) {
  deadline_.stop();
  std::fprintf(stderr, "r1-workbench --screenshot: %s\n", qPrintable(message));
  emit finished(1);
}

}  // namespace r1::ui
