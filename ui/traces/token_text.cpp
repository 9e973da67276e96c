#include "token_text.h"

#include <QDir>
#include <QFileInfo>
#include <array>

#include "engine/tokenizer/tokenizer.h"

namespace r1::ui {

TokenText TokenText::fromModelDir(const QString& dir) {
  TokenText t;
  t.tokenizer_ = r1::Tokenizer::load(QDir(dir).filePath(QStringLiteral("tokenizer.json")).toStdString());
  t.source_ = dir;
  return t;
}

bool TokenText::hasTokenizerFile(const QString& dir) {
  return !dir.isEmpty() && QFileInfo(QDir(dir).filePath(QStringLiteral("tokenizer.json"))).isFile();
}

QString TokenText::text(qint32 id) const {
  if (!tokenizer_ || id < 0 || id >= tokenizer_->vocab_size()) return QStringLiteral("#%1").arg(id);
  // One token may hold part of a UTF-8 character; decoding it alone shows that part as U+FFFD.
  const std::array<int32_t, 1> ids{id};
  return QString::fromStdString(tokenizer_->decode(ids));
}

}  // namespace r1::ui
