#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

#include "appearance.h"
#include "chat/chat_page.h"
#include "core/app_settings.h"
#include "core/chat_export.h"
#include "core/chat_session.h"
#include "core/finetune_session.h"
#include "core/local_server.h"
#include "core/run_config_export.h"
#include "core/run_store.h"
#include "engine/runtime/runtime.h"
#include "finetune/finetune_page.h"
#include "format_util.h"
#include "memory/memory_page.h"
#include "traces/traces_page.h"

namespace r1::ui {
namespace {

const QString kOpenFolder = QStringLiteral("\x01open");

QString folderName(const QString& dir) {
  return QFileInfo(QDir::cleanPath(dir)).fileName();
}

}  // namespace

MainWindow::MainWindow(const MainWindowOptions& options, QWidget* parent)
    : QMainWindow(parent), restore_layout_(options.restore_layout) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowTitle(tr("R1 Workbench"));
  setWindowIcon(appIcon());

  const QString store_path = options.store_path.isEmpty() ? r1::app::defaultStorePath() : options.store_path;
  QString store_error;
  try {
    store_ = std::make_unique<r1::app::RunStore>(store_path);
  } catch (const std::exception& e) {
    store_error = QString::fromUtf8(e.what());
  }
  session_ = new r1::app::ChatSession(store_ ? store_path : QString(), this);

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(0);
  error_banner_ = new QWidget(central);
  error_banner_->setObjectName(QStringLiteral("errorBanner"));
  error_banner_->setAutoFillBackground(true);
  QPalette banner_palette = error_banner_->palette();
  banner_palette.setColor(QPalette::Window, QColor(0xb3, 0x3a, 0x3a));
  banner_palette.setColor(QPalette::WindowText, Qt::white);
  error_banner_->setPalette(banner_palette);
  auto* banner_layout = new QHBoxLayout(error_banner_);
  banner_layout->setContentsMargins(12, 8, 8, 8);
  error_label_ = new QLabel(error_banner_);
  error_label_->setObjectName(QStringLiteral("errorText"));
  error_label_->setWordWrap(true);
  error_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  banner_layout->addWidget(error_label_, 1);
  auto* dismiss = new QToolButton(error_banner_);
  dismiss->setText(tr("Dismiss"));
  dismiss->setAutoRaise(true);
  banner_layout->addWidget(dismiss, 0, Qt::AlignTop);
  connect(dismiss, &QToolButton::clicked, this, &MainWindow::hideError);
  error_banner_->hide();
  layout->addWidget(error_banner_);

  pages_ = new QTabWidget(central);
  pages_->setObjectName(QStringLiteral("pages"));
  pages_->setDocumentMode(true);
  chat_ = new ChatPage(session_, store_.get(), pages_);
  finetune_ = new FinetunePage(store_ ? store_path : QString(), pages_);
  memory_ = new MemoryPage(pages_);
  traces_ = new TracesPage(store_ ? store_path : QString(), pages_);
  pages_->addTab(chat_, tr("Chat"));
  pages_->addTab(finetune_, tr("Fine-tune"));
  pages_->addTab(traces_, tr("Traces"));
  pages_->addTab(memory_, tr("Memory"));
  // The trace page reads the store when it is shown, so runs recorded meanwhile (here or by r1wb) appear.
  connect(pages_, &QTabWidget::currentChanged, this, [this](int index) {
    if (pages_->widget(index) == traces_) traces_->refresh();
  });
  layout->addWidget(pages_, 1);
  setCentralWidget(central);

  status_model_ = new QLabel(tr("No model"), this);
  status_device_ = new QLabel(this);
  status_memory_ = new QLabel(this);
  status_server_ = new QLabel(this);
  status_server_->setObjectName(QStringLiteral("serverStatus"));
  for (QLabel* l : {status_model_, status_device_, status_memory_, status_server_})
    statusBar()->addPermanentWidget(l);
  server_ = new r1::app::LocalServer(this);
  connect(server_, &r1::app::LocalServer::started, this, [this](const QString& url) {
    statusBar()->showMessage(tr("Serving the OpenAI API at %1/v1").arg(url), 10000);
    showServerState();
  });
  connect(server_, &r1::app::LocalServer::failed, this, [this](const QString& m) {
    showError(tr("The local server did not start: %1").arg(m));
    showServerState();
  });
  connect(server_, &r1::app::LocalServer::stopped, this, &MainWindow::showServerState);

  buildToolBar();
  buildMenus();

  connect(session_, &r1::app::ChatSession::loadStarted, this, &MainWindow::onLoadStarted);
  connect(session_, &r1::app::ChatSession::loadProgress, this, &MainWindow::onLoadProgress);
  connect(session_, &r1::app::ChatSession::modelLoaded, this, &MainWindow::onModelLoaded);
  connect(session_, &r1::app::ChatSession::loadFailed, this, &MainWindow::onLoadFailed);
  connect(session_, &r1::app::ChatSession::loadCancelled, this, &MainWindow::onLoadCancelled);
  connect(session_, &r1::app::ChatSession::kvChanged, this, &MainWindow::onKvChanged);
  connect(session_, &r1::app::ChatSession::storeFailed, this,
          [this](const QString& m) { statusBar()->showMessage(tr("Run store: %1").arg(m), 10000); });
  connect(chat_, &ChatPage::statusMessage, this,
          [this](const QString& m) { statusBar()->showMessage(m, 10000); });
  // The training run's memory accounting feeds the Memory page's training view.
  connect(finetune_->session(), &r1::app::FinetuneSession::memoryPlanned, memory_,
          &MemoryPage::setTrainingMemory);
  const auto show_status = [this](const QString& m) { statusBar()->showMessage(m, 10000); };
  connect(finetune_, &FinetunePage::statusMessage, this, show_status);
  connect(traces_, &TracesPage::statusMessage, this, show_status);

  r1::app::AppSettings settings;
  resize(1280, 820);
  if (restore_layout_) {
    restoreGeometry(settings.valueBytes(QStringLiteral("window/geometry")));
    restoreState(settings.valueBytes(QStringLiteral("window/state")));
    const QByteArray splitter = settings.valueBytes(QStringLiteral("window/chat_splitter"));
    if (!splitter.isEmpty()) chat_->splitter()->restoreState(splitter);
    pages_->setCurrentIndex(settings.valueBytes(QStringLiteral("window/page")).toInt());
  }
  if (!store_error.isEmpty()) showError(tr("Conversations will not be kept: %1").arg(store_error));

  const r1::app::DefaultModel def = r1::app::resolveDefaultModel();
  default_model_ = def.dir;
  default_origin_ = def.origin;
  if (!options.device.isEmpty()) {
    const int i = device_picker_->findData(options.device);
    if (i >= 0) device_picker_->setCurrentIndex(i);
  }
  rebuildModelPicker();
  const QString first = options.model_dir.isEmpty() ? default_model_ : options.model_dir;
  if (options.load_model && !first.isEmpty()) loadModel(first);
  if (options.load_model && first.isEmpty())
    showError(
        tr("No default model was found. Use \"Open model folder…\" to pick a Hugging Face model folder."));
}

MainWindow::~MainWindow() = default;

void MainWindow::buildToolBar() {
  auto* bar = addToolBar(tr("Model"));
  bar->setObjectName(QStringLiteral("modelToolBar"));
  bar->setMovable(false);
  bar->addWidget(new QLabel(tr(" Model "), bar));
  model_picker_ = new QComboBox(bar);
  model_picker_->setObjectName(QStringLiteral("modelPicker"));
  model_picker_->setMinimumContentsLength(36);
  model_picker_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  bar->addWidget(model_picker_);
  bar->addWidget(new QLabel(tr("  Device "), bar));
  device_picker_ = new QComboBox(bar);
  device_picker_->setObjectName(QStringLiteral("devicePicker"));
  device_picker_->addItem(tr("CPU"), QStringLiteral("cpu"));
  if (r1::cuda_device_count() > 0) device_picker_->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
  const QString saved = r1::app::AppSettings().device();
  const int saved_index = device_picker_->findData(saved);
  device_picker_->setCurrentIndex(saved_index >= 0 ? saved_index : device_picker_->count() - 1);
  bar->addWidget(device_picker_);
  bar->addSeparator();
  load_progress_ = new QProgressBar(bar);
  load_progress_->setObjectName(QStringLiteral("loadProgress"));
  load_progress_->setRange(0, 1000);
  load_progress_->setMinimumWidth(260);
  load_progress_->setTextVisible(true);
  load_progress_action_ = bar->addWidget(load_progress_);
  cancel_load_ = new QPushButton(tr("Cancel"), bar);
  cancel_load_->setObjectName(QStringLiteral("cancelLoad"));
  cancel_load_->setToolTip(tr("Cancel loading (Esc); the model loaded before stays"));
  cancel_load_action_ = bar->addWidget(cancel_load_);
  load_progress_action_->setVisible(false);
  cancel_load_action_->setVisible(false);
  connect(cancel_load_, &QPushButton::clicked, session_, &r1::app::ChatSession::cancelLoad);
  connect(model_picker_, &QComboBox::activated, this, &MainWindow::onModelPicked);
  connect(device_picker_, &QComboBox::activated, this, &MainWindow::onDevicePicked);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open model folder…"), this, &MainWindow::openModelFolder);
  open->setShortcut(QKeySequence::Open);
  QAction* make_default = file->addAction(tr("Use this model by &default"), this, [this] {
    if (!session_->hasModel()) return;
    r1::app::AppSettings().setDefaultModel(session_->model().dir);
    default_model_ = session_->model().dir;
    default_origin_ = tr("settings");
    rebuildModelPicker();
    statusBar()->showMessage(tr("%1 opens by default from now on").arg(session_->model().name), 5000);
  });
  make_default->setToolTip(tr("Open the loaded model at start (R1WB_DEFAULT_MODEL still wins)"));
  file->addSeparator();
  file->addAction(tr("&Export conversation…"), this, &MainWindow::chooseConversationExport)
      ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  file->addAction(tr("Export run &config…"), this, &MainWindow::chooseRunConfigExport);
  file->addSeparator();
  server_action_ = file->addAction(tr("&Local server (OpenAI API)"));
  server_action_->setObjectName(QStringLiteral("localServer"));
  server_action_->setCheckable(true);
  server_action_->setToolTip(tr("Serve the loaded model on 127.0.0.1 (port: the server/port setting)"));
  connect(server_action_, &QAction::toggled, this, &MainWindow::setLocalServerEnabled);
  showServerState();
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* chat = menuBar()->addMenu(tr("&Chat"));
  QAction* new_chat = chat->addAction(tr("&New chat"), chat_, &ChatPage::newConversation);
  new_chat->setShortcut(QKeySequence::New);
  QAction* regenerate = chat->addAction(tr("&Regenerate last reply"), chat_, &ChatPage::regenerate);
  regenerate->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  QAction* stop = chat->addAction(tr("&Stop"), this, &MainWindow::escape);
  stop->setShortcut(QKeySequence(Qt::Key_Escape));
  stop->setToolTip(tr("Stop the reply, or cancel loading"));

  QMenu* view = menuBar()->addMenu(tr("&View"));
  QAction* show_chat = view->addAction(tr("&Chat"), this, [this] { pages_->setCurrentWidget(chat_); });
  show_chat->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
  QAction* show_finetune =
      view->addAction(tr("&Fine-tune"), this, [this] { pages_->setCurrentWidget(finetune_); });
  show_finetune->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_2));
  QAction* show_traces = view->addAction(tr("&Traces"), this, [this] { pages_->setCurrentWidget(traces_); });
  show_traces->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_3));
  QAction* show_memory = view->addAction(tr("&Memory"), this, [this] { pages_->setCurrentWidget(memory_); });
  show_memory->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_4));
  view->addSeparator();
  QAction* dark = view->addAction(tr("&Dark palette"));
  dark->setObjectName(QStringLiteral("darkPalette"));
  dark->setCheckable(true);
  dark->setChecked(r1::app::AppSettings().darkPalette());
  dark->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
  connect(dark, &QAction::toggled, this, &MainWindow::setDarkPalette);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About R1 Workbench"), this, [this] {
    QMessageBox::about(
        this, tr("About R1 Workbench"),
        tr("<b>R1 Workbench %1</b><p>Chat with small reasoning models and watch their thinking, "
           "their speed and their KV cache, on this machine.</p>")
            .arg(QApplication::applicationVersion()));
  });
}

void MainWindow::rebuildModelPicker() {
  QSignalBlocker block(model_picker_);
  model_picker_->clear();
  const QString current = session_->hasModel() ? QDir::cleanPath(session_->model().dir) : QString();
  QStringList dirs;
  if (!default_model_.isEmpty()) {
    const bool builtin = default_origin_ == QLatin1String("built-in r1-tiny");
    model_picker_->addItem(builtin ? tr("r1-tiny (built in)")
                                   : tr("%1 (default: %2)").arg(folderName(default_model_), default_origin_),
                           QDir::cleanPath(default_model_));
    model_picker_->setItemData(0, default_model_, Qt::ToolTipRole);
    dirs << QDir::cleanPath(default_model_);
  }
  const QStringList recent = r1::app::AppSettings().recentModels();
  bool separated = false;
  for (const QString& dir : recent) {
    if (dirs.contains(dir)) continue;
    if (!separated && model_picker_->count() > 0) model_picker_->insertSeparator(model_picker_->count());
    separated = true;
    model_picker_->addItem(folderName(dir), dir);
    model_picker_->setItemData(model_picker_->count() - 1, dir, Qt::ToolTipRole);
    dirs << dir;
  }
  if (!current.isEmpty() && !dirs.contains(current)) {
    model_picker_->addItem(folderName(current), current);
    dirs << current;
  }
  model_picker_->insertSeparator(model_picker_->count());
  model_picker_->addItem(tr("Open model folder…"), kOpenFolder);
  const int i = model_picker_->findData(current);
  model_picker_->setCurrentIndex(i >= 0 ? i : (current.isEmpty() ? -1 : 0));
}

void MainWindow::onModelPicked(int index) {
  const QString dir = model_picker_->itemData(index).toString();
  if (dir == kOpenFolder) {
    rebuildModelPicker();
    openModelFolder();
    return;
  }
  if (!session_->hasModel() || QDir::cleanPath(session_->model().dir) != dir) loadModel(dir);
}

void MainWindow::onDevicePicked(int) {
  r1::app::AppSettings().setDevice(currentDevice());
  if (session_->hasModel()) loadModel(session_->model().dir);
}

QString MainWindow::currentDevice() const {
  return device_picker_->currentData().toString();
}

void MainWindow::openModelFolder() {
  const QString start =
      session_->hasModel() ? QFileInfo(session_->model().dir).absolutePath() : QDir::homePath();
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"), start);
  if (!dir.isEmpty()) loadModel(dir);
}

void MainWindow::loadModel(const QString& dir) {
  hideError();
  session_->loadModel(dir, currentDevice());
}

void MainWindow::onLoadStarted(const QString& dir) {
  loading_dir_ = dir;
  chat_->setModelReady(false);
  model_picker_->setEnabled(false);
  device_picker_->setEnabled(false);
  load_progress_->setValue(0);
  load_progress_->setFormat(tr("Loading %1…").arg(folderName(dir)));
  load_progress_action_->setVisible(true);
  cancel_load_action_->setVisible(true);
  statusBar()->showMessage(tr("Loading %1").arg(dir));
}

void MainWindow::onLoadProgress(double fraction, const QString& stage) {
  load_progress_->setValue(int(fraction * 1000));
  load_progress_->setFormat(QStringLiteral("%1 — %2").arg(folderName(loading_dir_), stage));
}

void MainWindow::endLoading() {
  if (session_->isLoading()) return;
  load_progress_action_->setVisible(false);
  cancel_load_action_->setVisible(false);
  model_picker_->setEnabled(true);
  device_picker_->setEnabled(true);
  chat_->setModelReady(session_->hasModel());
  rebuildModelPicker();
}

void MainWindow::onModelLoaded(const r1::app::ModelInfo& info) {
  r1::app::AppSettings().addRecentModel(info.dir);
  setWindowTitle(tr("%1 — R1 Workbench").arg(info.name));
  if (!info.chat_warning.isEmpty()) statusBar()->showMessage(info.chat_warning, 15000);
  status_model_->setText(tr("Model: %1 · %2 parameters · %3")
                             .arg(info.name, formatCount(double(info.parameters)), info.chat_format));
  status_model_->setToolTip(info.dir);
  status_device_->setText(tr("Device: %1").arg(info.device));
  status_device_->setToolTip(info.device_description);
  memory_->setModel(info);
  traces_->setModelDir(info.dir);
  onKvChanged(info.kv);
  if (info.chat_warning.isEmpty()) statusBar()->showMessage(tr("Loaded %1").arg(info.name), 5000);
  endLoading();
}

void MainWindow::onLoadFailed(const QString& dir, const QString& message) {
  showError(tr("Could not load the model from %1:\n%2").arg(dir, message));
  statusBar()->showMessage(tr("Loading failed"), 5000);
  endLoading();
}

void MainWindow::onLoadCancelled(const QString& dir) {
  statusBar()->showMessage(tr("Loading %1 cancelled").arg(folderName(dir)), 5000);
  endLoading();
}

void MainWindow::onKvChanged(const r1::app::KvSnapshot& kv) {
  memory_->setKv(kv);
  const qint64 weights = session_->model().weight_bytes;
  status_memory_->setText(tr("Memory: weights %1 + KV cache %2 (%3 in use)")
                              .arg(formatBytes(double(weights)), formatBytes(double(kv.total_bytes)),
                                   formatBytes(double(kv.used_bytes()))));
}

void MainWindow::escape() {
  if (session_->isGenerating())
    chat_->stop();
  else if (session_->isLoading())
    session_->cancelLoad();
}

void MainWindow::showError(const QString& message) {
  error_label_->setText(message);
  error_banner_->show();
}

void MainWindow::hideError() {
  error_banner_->hide();
}
bool MainWindow::errorVisible() const {
  return error_banner_->isVisibleTo(this);
}
QString MainWindow::errorText() const {
  return error_label_->text();
}
QString MainWindow::statusText() const {
  return QStringList{status_model_->text(), status_device_->text(), status_memory_->text()}.join(
      QStringLiteral(" | "));
}

void MainWindow::setDarkPalette(bool dark) {
  r1::app::AppSettings().setDarkPalette(dark);
  if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance())) applyPalette(*app, dark);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (restore_layout_) {
    r1::app::AppSettings settings;
    settings.setValueBytes(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValueBytes(QStringLiteral("window/state"), saveState());
    settings.setValueBytes(QStringLiteral("window/chat_splitter"), chat_->splitter()->saveState());
    settings.setValueBytes(QStringLiteral("window/page"), QByteArray::number(pages_->currentIndex()));
  }
  QMainWindow::closeEvent(event);
}

bool MainWindow::exportConversation(const QString& path) {
  try {
    if (!store_) throw r1::app::StoreError(tr("no run store is open").toStdString());
    if (chat_->conversationId() == 0) throw r1::app::StoreError(tr("no conversation is open").toStdString());
    r1::app::exportConversation(*store_, chat_->conversationId(), path);
  } catch (const std::exception& e) {
    showError(tr("Could not export the conversation: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
  statusBar()->showMessage(tr("Conversation written to %1").arg(path), 5000);
  return true;
}

bool MainWindow::exportRunConfig(qint64 run_id, const QString& path) {
  try {
    if (!store_) throw r1::app::StoreError(tr("no run store is open").toStdString());
    r1::app::exportRunConfig(*store_, run_id, path);
  } catch (const std::exception& e) {
    showError(tr("Could not export the run's config: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
  statusBar()->showMessage(
      tr("Run %1's config written to %2 (r1wb train grpo --config FILE runs it again)").arg(run_id).arg(path),
      10000);
  return true;
}

void MainWindow::chooseConversationExport() {
  if (chat_->conversationId() == 0) {
    statusBar()->showMessage(tr("Open or start a conversation to export it"), 5000);
    return;
  }
  const QString markdown = tr("Markdown (*.md)"), json = tr("JSON (*.json)");
  QString filter = markdown;
  QString path = QFileDialog::getSaveFileName(this, tr("Export conversation"),
                                              QDir::home().filePath(QStringLiteral("conversation.md")),
                                              markdown + QStringLiteral(";;") + json, &filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty())
    path += filter == json ? QStringLiteral(".json") : QStringLiteral(".md");
  exportConversation(path);
}

void MainWindow::chooseRunConfigExport() {
  const QVector<r1::app::RunInfo> runs = store_ ? store_->runs() : QVector<r1::app::RunInfo>();
  if (runs.isEmpty()) {
    statusBar()->showMessage(tr("No training runs are recorded yet"), 5000);
    return;
  }
  QStringList items;
  for (const r1::app::RunInfo& r : runs)
    items << tr("Run %1 · %2 · %3 · %4 · %5")
                 .arg(r.id)
                 .arg(r.kind, folderName(r.model), r.status,
                      QDateTime::fromMSecsSinceEpoch(r.created_ms)
                          .toString(QStringLiteral("yyyy-MM-dd HH:mm")));
  bool ok = false;
  const QString item = QInputDialog::getItem(this, tr("Export run config"), tr("Run:"), items, 0, false, &ok);
  if (!ok) return;
  const qint64 run_id = runs[items.indexOf(item)].id;
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export run config"), QDir::home().filePath(QStringLiteral("run-%1.json").arg(run_id)),
      tr("JSON (*.json)"));
  if (!path.isEmpty()) exportRunConfig(run_id, path);
}

void MainWindow::setLocalServerEnabled(bool enabled) {
  if (!enabled) {
    server_->stop();
  } else if (!server_->isRunning() && !server_->isStarting()) {
    if (!session_->hasModel()) {
      statusBar()->showMessage(tr("Load a model first: the local server serves the loaded model"), 5000);
    } else {
      server_->start(session_->model().dir, currentDevice(), r1::app::LocalServer::configuredPort());
    }
  }
  showServerState();
}

void MainWindow::showServerState() {
  QString text, tip;
  if (server_->isRunning()) {
    text = tr("Server: %1").arg(server_->url());
    tip = tr("OpenAI-compatible API at %1/v1 serving %2").arg(server_->url(), server_->modelDir());
  } else if (server_->isStarting()) {
    text = tr("Server: starting…");
  } else {
    text = tr("Server: off");
  }
  status_server_->setText(text);
  status_server_->setToolTip(tip);
  if (server_action_) {
    QSignalBlocker block(server_action_);
    server_action_->setChecked(server_->isRunning() || server_->isStarting());
  }
}

QString MainWindow::serverStatusText() const {
  return status_server_->text();
}

}  // namespace r1::ui
