#pragma once
// The workbench window: a model picker (default model, recent folders, "Open model folder…"), a device
// picker, the pages (Chat, Fine-tune, Memory), loading progress with Cancel, an error banner for a model that
// failed to load, and a status bar with the model, the device and the memory in use. The File menu exports
// the current conversation (Markdown or JSON) and a run's config, and switches the local OpenAI-compatible
// server on and off. Layout and settings persist in QSettings.
#include <QMainWindow>
#include <memory>

#include "core/chat_types.h"

class QAction;
class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QToolButton;

namespace r1::app {
class ChatSession;
class LocalServer;
class RunStore;
}  // namespace r1::app

namespace r1::ui {

class ChatPage;
class FinetunePage;
class MemoryPage;
class TracesPage;

struct MainWindowOptions {
  QString store_path;  // empty: the default store
  QString model_dir;   // empty: the default model
  QString device;      // empty: the saved choice, else the best present
  bool load_model = true;
  bool restore_layout = true;
};

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(const MainWindowOptions& options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  r1::app::ChatSession* session() const { return session_; }
  ChatPage* chatPage() const { return chat_; }
  FinetunePage* finetunePage() const { return finetune_; }
  MemoryPage* memoryPage() const { return memory_; }
  TracesPage* tracesPage() const { return traces_; }
  QTabWidget* pages() const { return pages_; }
  QComboBox* modelPicker() const { return model_picker_; }
  QComboBox* devicePicker() const { return device_picker_; }
  QProgressBar* loadProgress() const { return load_progress_; }
  bool errorVisible() const;
  QString errorText() const;
  QString statusText() const;

  void loadModel(const QString& dir);
  void openModelFolder();
  void setDarkPalette(bool dark);
  void showError(const QString& message);
  void hideError();

  // The File menu's exports without their file dialogs; false (and the error banner) when they fail.
  bool exportConversation(const QString& path);  // the open conversation; .json: JSON, else Markdown
  bool exportRunConfig(qint64 run_id, const QString& path);
  // The local server over the loaded model, on 127.0.0.1 at the "server/port" setting (default 8080).
  void setLocalServerEnabled(bool enabled);
  r1::app::LocalServer* localServer() const { return server_; }
  QAction* localServerAction() const { return server_action_; }
  QString serverStatusText() const;

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void chooseConversationExport();
  void chooseRunConfigExport();
  void showServerState();
  void buildToolBar();
  void rebuildModelPicker();
  void onModelPicked(int index);
  void onDevicePicked(int index);
  void onLoadStarted(const QString& dir);
  void onLoadProgress(double fraction, const QString& stage);
  void onModelLoaded(const r1::app::ModelInfo& info);
  void onLoadFailed(const QString& dir, const QString& message);
  void onLoadCancelled(const QString& dir);
  void onKvChanged(const r1::app::KvSnapshot& kv);
  void escape();
  void endLoading();
  QString currentDevice() const;

  std::unique_ptr<r1::app::RunStore> store_;
  r1::app::ChatSession* session_ = nullptr;
  ChatPage* chat_ = nullptr;
  FinetunePage* finetune_ = nullptr;
  MemoryPage* memory_ = nullptr;
  TracesPage* traces_ = nullptr;
  QTabWidget* pages_ = nullptr;
  QComboBox* model_picker_ = nullptr;
  QComboBox* device_picker_ = nullptr;
  QProgressBar* load_progress_ = nullptr;
  QPushButton* cancel_load_ = nullptr;
  QAction* load_progress_action_ = nullptr;
  QAction* cancel_load_action_ = nullptr;
  QWidget* error_banner_ = nullptr;
  QLabel* error_label_ = nullptr;
  QLabel* status_model_ = nullptr;
  QLabel* status_device_ = nullptr;
  QLabel* status_memory_ = nullptr;
  QLabel* status_server_ = nullptr;
  r1::app::LocalServer* server_ = nullptr;
  QAction* server_action_ = nullptr;
  QString default_model_;
  QString default_origin_;
  QString loading_dir_;
  bool restore_layout_ = true;
};

}  // namespace r1::ui
