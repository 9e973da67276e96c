#pragma once
// A read-only rich-text view as tall as its text: the chat transcript scrolls, not each message. Long words
// wrap anywhere, so a run of characters without spaces never widens the transcript.
#include <QTextBrowser>

namespace r1::ui {

class AutoHeightBrowser : public QTextBrowser {
  Q_OBJECT

 public:
  explicit AutoHeightBrowser(QWidget* parent = nullptr);
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 protected:
  void resizeEvent(QResizeEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;

 private:
  void fitHeight();
  int contentHeight() const;
};

}  // namespace r1::ui
