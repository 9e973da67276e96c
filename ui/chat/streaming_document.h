#pragma once
// Renders streamed reply text into a QTextDocument line by line, so the GUI's cost per update stays small
// however long the reply grows: every finished line becomes its own block once and is never laid out again;
// only the unfinished last line is redrawn on flush(). Markdown mode shows fenced code blocks as monospace
// lines on a shaded background, `inline code` in monospace, **bold** and # headings; plain mode shows text
// as it is. A line without a newline that keeps growing is broken at a space after kSoftLineLimit characters
// (display only), so one endless line cannot make each update slower than the last.
#include <QColor>
#include <QString>

class QTextBlockFormat;
class QTextCursor;
class QTextDocument;

namespace r1::ui {

struct RenderColors {
  QColor text;             // muted text, e.g. a code block's language
  QColor code_background;  // shading behind code
};

class StreamingDocument {
 public:
  enum class Mode { Plain, Markdown };
  static constexpr qsizetype kSoftLineLimit = 400;

  StreamingDocument(QTextDocument* document, Mode mode);

  void setColors(const RenderColors& colors);  // redraws everything
  void append(const QString& text);            // finished lines appear now, the last line on flush()
  void flush();
  void setText(const QString& text);  // replaces everything, tail included
  const QString& text() const { return text_; }

 private:
  struct State {
    bool in_code = false;
    bool gap_before = false;    // the next paragraph line follows a blank line or a block of another kind
    bool continuation = false;  // the next line continues a line broken for display
  };

  void renderLine(QStringView line, State& state);
  void startBlock(QTextCursor& cursor, const QTextBlockFormat& format);
  void removeTail();
  void renderTail();
  void consumeLines();

  QTextDocument* doc_;
  Mode mode_;
  RenderColors colors_;
  QString text_;
  qsizetype done_ = 0;   // text_[0, done_) is drawn as final blocks
  State state_;          // after the final blocks
  bool empty_ = true;    // the document's first block is still unused
  int tail_start_ = -1;  // where the tail's drawing begins; -1: no tail drawn
  bool tail_took_first_block_ = false;
};

}  // namespace r1::ui
