#pragma once
// A reply's reasoning: "Thinking… 1.4 s" while it streams (expanded, text arriving), then collapsed to
// "Thought for 3.2 s" and expandable with a click.
#include <QElapsedTimer>
#include <QTimer>
#include <QToolButton>
#include <QWidget>
#include <memory>

namespace r1::ui {

class AutoHeightBrowser;
class StreamingDocument;

class ThinkingBlock : public QWidget {
  Q_OBJECT

 public:
  explicit ThinkingBlock(QWidget* parent = nullptr);
  ~ThinkingBlock() override;

  void startLive();
  void appendText(const QString& text);
  // Thinking is over: the header shows how long it took and the text collapses.
  void finish(double seconds);
  void setStoredText(const QString& text, double seconds);

  bool isLive() const { return live_; }
  double liveSeconds() const { return double(since_start_.elapsed()) / 1000.0; }
  bool isExpanded() const;
  void setExpanded(bool expanded);
  QString headerText() const { return header_->text(); }
  QString text() const;

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void updateLiveHeader();
  void applyMutedText();

  QToolButton* header_ = nullptr;
  QWidget* body_row_ = nullptr;
  AutoHeightBrowser* body_ = nullptr;
  std::unique_ptr<StreamingDocument> text_;
  QTimer tick_;
  QElapsedTimer since_start_;
  bool live_ = false;
};

QString thoughtForText(double seconds);

}  // namespace r1::ui
