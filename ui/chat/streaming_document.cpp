#include "streaming_document.h"

#include <QFontDatabase>
#include <QRegularExpression>
#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

namespace r1::ui {
namespace {

constexpr qreal kParagraphGap = 8;

bool isFence(QStringView line) {
  return line.trimmed().startsWith(u"```");
}

QTextCharFormat monoFormat() {
  QTextCharFormat f;
  f.setFontFamilies({QFontDatabase::systemFont(QFontDatabase::FixedFont).family()});
  f.setFontFixedPitch(true);
  return f;
}

// `code` and **bold** spans of one line, each with its format.
void insertInline(QTextCursor& cursor, QStringView line, const RenderColors& colors) {
  static const QRegularExpression span(QStringLiteral("`([^`]+)`|\\*\\*([^*]+)\\*\\*"));
  const QString text = line.toString();
  qsizetype at = 0;
  const QTextCharFormat plain;
  for (auto it = span.globalMatch(text); it.hasNext();) {
    const auto m = it.next();
    cursor.insertText(text.mid(at, m.capturedStart() - at), plain);
    if (m.capturedLength(1) > 0) {
      QTextCharFormat code = monoFormat();
      code.setBackground(colors.code_background);
      cursor.insertText(m.captured(1), code);
    } else {
      QTextCharFormat bold;
      bold.setFontWeight(QFont::Bold);
      cursor.insertText(m.captured(2), bold);
    }
    at = m.capturedEnd();
  }
  cursor.insertText(text.mid(at), plain);
}

// One edit block per update: the layout runs once at its end, and cursors skip measuring their x position
// (which shapes the whole line) while it is open.
class EditBlock {
 public:
  explicit EditBlock(QTextDocument* doc) : cursor_(doc) { cursor_.beginEditBlock(); }
  ~EditBlock() { cursor_.endEditBlock(); }

 private:
  QTextCursor cursor_;
};

}  // namespace

StreamingDocument::StreamingDocument(QTextDocument* document, Mode mode) : doc_(document), mode_(mode) {}

void StreamingDocument::setColors(const RenderColors& colors) {
  colors_ = colors;
  setText(text_);
}

void StreamingDocument::setText(const QString& text) {
  EditBlock edit(doc_);
  doc_->clear();
  text_ = text;
  done_ = 0;
  state_ = {};
  empty_ = true;
  tail_start_ = -1;
  consumeLines();
  renderTail();
}

void StreamingDocument::append(const QString& text) {
  text_ += text;
  if (text.contains(QLatin1Char('\n')) || text_.size() - done_ > kSoftLineLimit) {
    EditBlock edit(doc_);
    removeTail();
    consumeLines();
  }
}

void StreamingDocument::flush() {
  EditBlock edit(doc_);
  removeTail();
  consumeLines();
  renderTail();
}

void StreamingDocument::consumeLines() {
  for (;;) {
    const qsizetype newline = text_.indexOf(QLatin1Char('\n'), done_);
    if (newline >= 0) {
      renderLine(QStringView(text_).mid(done_, newline - done_), state_);
      state_.continuation = false;
      done_ = newline + 1;
      continue;
    }
    if (text_.size() - done_ <= kSoftLineLimit) return;
    // Break the endless line at its last space before the limit (or at the limit when it has none).
    const QStringView rest = QStringView(text_).mid(done_, kSoftLineLimit);
    qsizetype cut = rest.lastIndexOf(QLatin1Char(' '));
    cut = cut > 0 ? cut + 1 : kSoftLineLimit;
    renderLine(rest.left(cut), state_);
    state_.continuation = true;
    done_ += cut;
  }
}

void StreamingDocument::startBlock(QTextCursor& cursor, const QTextBlockFormat& format) {
  if (empty_) {
    cursor.setBlockFormat(format);
    cursor.setBlockCharFormat(QTextCharFormat());
    empty_ = false;
  } else {
    cursor.insertBlock(format, QTextCharFormat());
  }
  // Keep each line's shaped glyphs: by default a document drops them after layout and shapes the text
  // again on every paint, which made repainting a long reply the GUI thread's largest cost.
  cursor.block().layout()->setCacheEnabled(true);
}

void StreamingDocument::renderLine(QStringView line, State& state) {
  QTextCursor cursor(doc_);
  cursor.movePosition(QTextCursor::End);
  QTextBlockFormat block;
  if (mode_ == Mode::Plain) {
    startBlock(cursor, block);
    cursor.insertText(line.toString());
    return;
  }
  if (!state.continuation && isFence(line)) {
    state.in_code = !state.in_code;
    state.gap_before = true;
    const QStringView language = line.trimmed().mid(3).trimmed();
    if (state.in_code && !language.isEmpty()) {
      block.setBackground(colors_.code_background);
      block.setTopMargin(kParagraphGap / 2);
      block.setLeftMargin(6);
      startBlock(cursor, block);
      QTextCharFormat label = monoFormat();
      label.setForeground(colors_.text);
      label.setFontPointSize(doc_->defaultFont().pointSizeF() * 0.85);
      cursor.insertText(language.toString(), label);
      state.gap_before = false;
    }
    return;
  }
  if (state.in_code) {
    block.setBackground(colors_.code_background);
    block.setLeftMargin(6);
    block.setNonBreakableLines(false);
    if (state.gap_before) block.setTopMargin(kParagraphGap / 2);
    state.gap_before = false;
    startBlock(cursor, block);
    cursor.insertText(line.toString(), monoFormat());
    return;
  }
  const QStringView trimmed = line.trimmed();
  if (trimmed.isEmpty() && !state.continuation) {
    state.gap_before = true;
    return;
  }
  if (state.gap_before && !state.continuation && !empty_) block.setTopMargin(kParagraphGap);
  state.gap_before = false;
  if (!state.continuation && trimmed.startsWith(QLatin1Char('#'))) {
    qsizetype level = 0;
    while (level < trimmed.size() && trimmed[level] == QLatin1Char('#')) ++level;
    startBlock(cursor, block);
    QTextCharFormat heading;
    heading.setFontWeight(QFont::Bold);
    heading.setFontPointSize(doc_->defaultFont().pointSizeF() * (level <= 1 ? 1.3 : level == 2 ? 1.15 : 1.0));
    cursor.insertText(trimmed.mid(level).trimmed().toString(), heading);
    state.gap_before = true;
    return;
  }
  startBlock(cursor, block);
  insertInline(cursor, line, colors_);
}

void StreamingDocument::renderTail() {
  if (done_ >= text_.size()) return;
  QTextCursor cursor(doc_);
  cursor.movePosition(QTextCursor::End);
  tail_start_ = cursor.position();
  tail_took_first_block_ = empty_;
  State scratch = state_;  // the tail may change, so it never advances the final state
  renderLine(QStringView(text_).mid(done_), scratch);
}

void StreamingDocument::removeTail() {
  if (tail_start_ < 0) return;
  QTextCursor cursor(doc_);
  cursor.setPosition(tail_start_);
  cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
  cursor.removeSelectedText();
  if (tail_took_first_block_) {
    cursor.setBlockFormat(QTextBlockFormat());
    empty_ = true;
  }
  tail_start_ = -1;
}

}  // namespace r1::ui
