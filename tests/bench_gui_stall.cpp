// The GUI thread's longest stall while replies stream into the workbench window: a 1 ms timer on the GUI
// thread records the longest gap between its ticks while the chat page renders text, stats and the memory
// plots. Prints figures; asserts nothing. Usage: bench_gui_stall [--tokens N] [--replies N] [--only
// fixture|long] [--page chat|memory] R1WB_BENCH_TRACE=1 prints every gap over 12 ms and when each reply
// finished. --only training measures a GRPO run of the built-in model instead.
#include <QApplication>
#include <QElapsedTimer>
#include <QSettings>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "appearance.h"
#include "chat/chat_page.h"
#include "chat/chat_settings_panel.h"
#include "chat_test_model.h"
#include "core/chat_session.h"
#include "core/finetune_options.h"
#include "core/finetune_session.h"
#include "finetune/finetune_form.h"
#include "finetune/finetune_page.h"
#include "main_window.h"
#include "memory/memory_page.h"
#include "testlib/test_support.h"

namespace {

struct StallMeter {
  QTimer timer;
  QElapsedTimer clock;
  qint64 last_ns = 0;
  std::vector<double> gaps_ms;

  void start() {
    gaps_ms.clear();
    clock.start();
    last_ns = 0;
    timer.setTimerType(Qt::PreciseTimer);
    timer.setInterval(1);
    QObject::connect(&timer, &QTimer::timeout, [this] {
      const qint64 now = clock.nsecsElapsed();
      gaps_ms.push_back(double(now - last_ns) * 1e-6);
      if (qEnvironmentVariableIsSet("R1WB_BENCH_TRACE") && gaps_ms.back() > 12)
        std::printf("    gap %.1f ms ending at %.3f s\n", gaps_ms.back(), double(now) * 1e-9);
      last_ns = now;
    });
    timer.start();
  }
  void stop() {
    timer.stop();
    QObject::disconnect(&timer, nullptr, nullptr, nullptr);
  }
  double longest() const { return gaps_ms.empty() ? 0 : *std::max_element(gaps_ms.begin(), gaps_ms.end()); }
  double percentile(double p) const {
    if (gaps_ms.empty()) return 0;
    std::vector<double> v = gaps_ms;
    std::sort(v.begin(), v.end());
    return v[size_t(p * double(v.size() - 1))];
  }
};

struct Run {
  qint64 tokens = 0;
  double seconds = 0;
  double longest_ms = 0, p99_ms = 0;
};

// Runs `loop` with `meter` probing the GUI thread, after `begin` has started the work (nothing is measured
// when it returns false); fills in the run's time and its longest and 99th-percentile gaps.
void timeLoop(StallMeter& meter, QEventLoop& loop, const std::function<bool()>& begin, Run& run) {
  QElapsedTimer clock;
  clock.start();
  meter.start();
  if (!begin()) {
    meter.stop();
    return;
  }
  loop.exec();
  meter.stop();
  run.seconds = double(clock.elapsed()) / 1000.0;
  run.longest_ms = meter.longest();
  run.p99_ms = meter.percentile(0.99);
}

// Sends `replies` messages one after another with `max_tokens` each on `window`'s model.
Run measure(r1::ui::MainWindow& window, int replies, int max_tokens) {
  r1::app::ChatSettings s = window.chatPage()->settingsPanel()->settings();
  s.max_tokens = max_tokens;
  s.temperature = 1.0;
  window.chatPage()->settingsPanel()->setSettings(s);
  Run run;
  StallMeter meter;
  QEventLoop loop;
  int done = 0;
  QObject ctx;
  const auto send = [&] {
    window.chatPage()->newConversation();
    window.chatPage()->sendMessage(QStringLiteral("Tell me everything about prime numbers, step by step."));
  };
  QObject::connect(window.session(), &r1::app::ChatSession::replyFinished, &ctx,
                   [&](quint64, const r1::app::ChatMessage& m) {
                     if (qEnvironmentVariableIsSet("R1WB_BENCH_TRACE"))
                       std::printf("    reply finished at %.3f s\n",
                                   double(meter.clock.nsecsElapsed()) * 1e-9);
                     run.tokens += m.stats.completion_tokens;
                     if (++done == replies)
                       loop.quit();
                     else
                       QTimer::singleShot(0, &ctx, send);
                   });
  QObject::connect(window.session(), &r1::app::ChatSession::replyFailed, &ctx,
                   [&](quint64, const QString& m) {
                     std::fprintf(stderr, "reply failed: %s\n", qPrintable(m));
                     loop.quit();
                   });
  timeLoop(
      meter, loop,
      [&] {
        send();
        return true;
      },
      run);
  return run;
}

// A GRPO run of the built-in model from the Fine-tune page (small settings, a few seconds per step on the
// CPU) while `page` is shown: live plots, the memory view and the store's writes on the GUI thread's side.
Run measureTraining(r1::ui::MainWindow& window, QWidget* page, int steps) {
  r1::ui::FinetunePage* ft = window.finetunePage();
  r1::app::FinetuneOptions o = r1::ui::FinetuneForm::defaults();
  o.group_size = 4;
  o.prompts_per_step = 2;
  o.max_completion = 24;
  o.steps = steps;
  ft->form()->setOptions(o);
  ft->form()->setCheckpointsWanted(false);
  window.pages()->setCurrentWidget(page);
  Run run;
  StallMeter meter;
  QEventLoop loop;
  QObject ctx;
  QObject::connect(ft->session(), &r1::app::FinetuneSession::stepMetrics, &ctx,
                   [&](const QJsonObject&) { ++run.tokens; });
  QObject::connect(ft->session(), &r1::app::FinetuneSession::finished, &ctx,
                   [&](const QString&) { loop.quit(); });
  QObject::connect(ft->session(), &r1::app::FinetuneSession::failed, &ctx, [&](const QString& m) {
    std::fprintf(stderr, "fine-tune failed: %s\n", qPrintable(m));
    loop.quit();
  });
  timeLoop(
      meter, loop,
      [&] {
        if (ft->start()) return true;
        std::fprintf(stderr, "the fine-tune page refused to start: %s\n", qPrintable(ft->errorText()));
        return false;
      },
      run);
  return run;
}

bool waitLoaded(r1::ui::MainWindow& window) {
  QElapsedTimer clock;
  clock.start();
  while (window.session()->isLoading() && clock.elapsed() < 120000)
    QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
  return window.session()->hasModel();
}

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  int tokens = 3000, replies = 3;
  QString only, page_filter;
  const QStringList args = app.arguments();
  for (int i = 1; i + 1 < args.size(); ++i) {
    if (args[i] == QLatin1String("--tokens")) tokens = args[i + 1].toInt();
    if (args[i] == QLatin1String("--replies")) replies = args[i + 1].toInt();
    if (args[i] == QLatin1String("--only")) only = args[i + 1];
    if (args[i] == QLatin1String("--page")) page_filter = args[i + 1];
  }
  r1::test::TempDir tmp;
  QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                     QString::fromStdString((tmp / "settings").string()));
  r1::ui::initApplication(app);

  struct Case {
    const char* key;
    const char* what;
    QString model;
    int replies, max_tokens;
  };
  const QString slow =
      QString::fromStdString(r1::test::write_slow_chat_model(tmp / "long", 256, 4, 4096).string());
  const Case cases[] = {
      {"fixture", "fixture qwen2-tied (fastest stream, 256-token context)",
       QString::fromStdString(r1::test::chat_fixture_model().string()), 10, 240},
      {"long", "random Qwen2 256x4 (long replies, 4096-token context)", slow, replies, tokens},
  };
  std::printf("GUI thread stall while replies stream (1 ms probe timer on the GUI thread)\n");
  double worst = 0;
  for (const Case& c : cases) {
    if (!only.isEmpty() && only != QLatin1String(c.key)) continue;
    r1::ui::MainWindowOptions o;
    o.model_dir = c.model;
    o.device = QStringLiteral("cpu");
    o.store_path = QString::fromStdString((tmp / "runs.sqlite").string());
    o.restore_layout = false;
    r1::ui::MainWindow window(o);
    window.show();
    if (!waitLoaded(window)) {
      std::fprintf(stderr, "%s: the model did not load\n", c.what);
      return 1;
    }
    for (int page = 0; page < 2; ++page) {
      if (!page_filter.isEmpty() && page_filter != QLatin1String(page == 0 ? "chat" : "memory")) continue;
      window.pages()->setCurrentWidget(page == 0 ? static_cast<QWidget*>(window.chatPage())
                                                 : window.memoryPage());
      const Run r = measure(window, c.replies, c.max_tokens);
      worst = std::max(worst, r.longest_ms);
      std::printf(
          "  %-56s %-7s page: %6lld tokens in %6.2f s (%7.1f tok/s)  longest stall %6.1f ms, p99 gap %5.1f "
          "ms\n",
          c.what, page == 0 ? "Chat" : "Memory", (long long)r.tokens, r.seconds,
          r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0, r.longest_ms, r.p99_ms);
    }
  }
  if (only.isEmpty() || only == QLatin1String("training")) {
    // Training: the built-in r1-tiny through the Fine-tune page, watched from the Fine-tune and Memory pages.
    r1::ui::MainWindowOptions o;
    o.load_model = false;
    o.store_path = QString::fromStdString((tmp / "runs.sqlite").string());
    o.restore_layout = false;
    r1::ui::MainWindow window(o);
    window.show();
    QElapsedTimer settle;  // the window's first layout and paint happen before the run, not during it
    settle.start();
    while (settle.elapsed() < 300) QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
    for (QWidget* page :
         {static_cast<QWidget*>(window.finetunePage()), static_cast<QWidget*>(window.memoryPage())}) {
      const Run r = measureTraining(window, page, 6);
      worst = std::max(worst, r.longest_ms);
      std::printf(
          "  %-56s %-7s page: %6lld steps  in %6.2f s                   longest stall %6.1f ms, p99 gap "
          "%5.1f ms\n",
          "GRPO on r1-tiny (G 4, 2 prompts, 24 new tokens, CPU)",
          page == window.memoryPage() ? "Memory" : "Finetune", (long long)r.tokens, r.seconds, r.longest_ms,
          r.p99_ms);
    }
  }
  std::printf("longest GUI stall: %.1f ms\n", worst);
  return 0;
}
