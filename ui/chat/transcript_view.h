#pragma once
// The scrolling column of messages. While the view is at the bottom it follows new text; once the user
// scrolls up to read, it stays where it is.
#include <QScrollArea>

class QVBoxLayout;

namespace r1::ui {

class TranscriptView : public QScrollArea {
  Q_OBJECT

 public:
  explicit TranscriptView(QWidget* parent = nullptr);

  void addEntry(QWidget* entry);
  void removeEntriesFrom(int index);  // deletes entries index.. end
  void clear();
  int entryCount() const;
  QWidget* entryAt(int index) const;
  void scrollToBottom();
  void setPlaceholder(const QString& text);

 private:
  void onRangeChanged(int min, int max);
  void onValueChanged(int value);

  QWidget* column_;
  QVBoxLayout* layout_;
  QWidget* placeholder_;
  bool follow_ = true;
};

}  // namespace r1::ui
