#pragma once
// `r1-workbench --screenshot DIR`: a scripted chat on the window's model and two short fine-tune runs of the
// built-in r1-tiny (the second overlaid on the first), then a PNG of each page (and the chat, fine-tune and
// memory pages in the dark palette) saved in DIR. Ends with finished(0), or finished(1) with a message on
// stderr.
#include <QDir>
#include <QObject>
#include <QPair>
#include <QStringList>
#include <QTimer>
#include <QVector>

#include "core/chat_types.h"

class QWidget;

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
  void startFinetune();
  void onFinetuneEnded(const QString& outcome);
  void capture();
  void nextShot();
  bool save(const QString& name);
  void fail(const QString& message);

  MainWindow* window_;
  QDir out_;
  QStringList prompts_;
  QTimer deadline_;
  int sent_ = 0;
  int retries_ = 0;
  QVector<qint64> finetune_runs_;
  QVector<QPair<QString, QWidget*>> shots_;  // file name, page still to grab
  bool shot_ok_ = true;
  bool started_chat_ = false;
};

}  // namespace r1::ui
