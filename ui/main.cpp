// r1-workbench: the desktop workbench. Options: --model DIR, --device cpu|cuda, --store FILE,
// --screenshot DIR (a scripted chat, a PNG of each page, then exit), --version, --help.
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <QTemporaryDir>
#include <cstdio>
#include <cstring>
#include <memory>

#include "appearance.h"
#include "main_window.h"
#include "screenshot.h"

namespace {

const char* kUsage =
    "usage: r1-workbench [--model DIR] [--device cpu|cuda] [--store FILE] [--screenshot DIR]\n"
    "  --model DIR       open this Hugging Face model folder instead of the default model\n"
    "  --device NAME     cpu or cuda (default: the saved choice, else the best present)\n"
    "  --store FILE      the run store (SQLite) for conversations; default: R1WB_STORE or the data folder\n"
    "  --screenshot DIR  run a scripted chat, save a PNG of each page in DIR and exit (offscreen when no\n"
    "                    display is set); settings and conversations go to a temporary folder\n"
    "  --version         print the version\n";

bool hasFlag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], flag)) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (hasFlag(argc, argv, "--version")) {
    std::puts("r1-workbench " R1WB_VERSION);
    return 0;
  }
  if (hasFlag(argc, argv, "--help") || hasFlag(argc, argv, "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool screenshot = hasFlag(argc, argv, "--screenshot");
  if (screenshot && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") &&
      qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QGuiApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
  QApplication app(argc, argv);

  QCommandLineParser parser;
  const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("model folder"),
                                 QStringLiteral("DIR"));
  const QCommandLineOption device(QStringLiteral("device"), QStringLiteral("cpu or cuda"),
                                  QStringLiteral("NAME"));
  const QCommandLineOption store(QStringLiteral("store"), QStringLiteral("run store file"),
                                 QStringLiteral("FILE"));
  const QCommandLineOption shots(QStringLiteral("screenshot"), QStringLiteral("screenshot folder"),
                                 QStringLiteral("DIR"));
  parser.addOptions({model, device, store, shots});
  if (!parser.parse(QApplication::arguments())) {
    std::fprintf(stderr, "r1-workbench: %s\n%s", qPrintable(parser.errorText()), kUsage);
    return 2;
  }
  const QString device_name = parser.value(device);
  if (!device_name.isEmpty() && device_name != QLatin1String("cpu") && device_name != QLatin1String("cuda")) {
    std::fprintf(stderr, "r1-workbench: --device must be cpu or cuda, not \"%s\"\n", qPrintable(device_name));
    return 2;
  }

  // Screenshots never read or change the user's settings and conversations.
  std::unique_ptr<QTemporaryDir> scratch;
  if (screenshot) {
    scratch = std::make_unique<QTemporaryDir>();
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, scratch->path());
  }
  r1::ui::initApplication(app);

  r1::ui::MainWindowOptions options;
  options.model_dir = parser.value(model);
  options.device = device_name;
  options.store_path = parser.value(store);
  if (screenshot && options.store_path.isEmpty())
    options.store_path = scratch->filePath(QStringLiteral("runs.sqlite"));
  options.restore_layout = !screenshot;
  r1::ui::MainWindow window(options);
  window.show();
  if (!screenshot) return app.exec();

  r1::ui::ScreenshotScenario scenario(&window, parser.value(shots));
  QObject::connect(&scenario, &r1::ui::ScreenshotScenario::finished, &app, &QCoreApplication::exit);
  scenario.start();
  return app.exec();
}
