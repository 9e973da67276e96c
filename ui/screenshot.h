#pragma once
// `r1-workbench --screenshot DIR`: a scripted chat on the window's model, then a PNG of each page (and the
// chat page in the dark palette) saved in DIR. Ends with finished(0), or finished(1) with a message on
// stderr.
#include <QDir>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include "core/chat_types.h"

namespace r1::ui {

class MainWindow;

class ScreenshotScenario : public QObject {
  Q_OBJECT

 public:
  ScreenshotScenario(MainWindow* window, const QString& out_dir, QObject* parent = nullptr);
  void start();

 signals:
  void finished(int exit_code);

 private:
  void onModelLoaded();
  void onLoadFailed(const QString& dir, const QString& message);
  void sendNext();
  void onReplyFinished(quint64 request_id, const r1::app::ChatMessage& reply);
  void capture();
  bool save(const QString& name);
  void fail(const QString& message);

  MainWindow* window_;
  QDir out_;
  QStringList prompts_;
  QTimer deadline_;
  int sent_ = 0;
  int retries_ = 0;
  bool started_chat_ = false;
};

}  // namespace r1::ui
