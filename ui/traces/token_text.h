#pragma once
// A token id as a person reads it: the text the model's tokenizer gives it, or "#id" when no tokenizer is
// loaded. Copies share one tokenizer.
#include <QString>
#include <memory>

namespace r1 {
class Tokenizer;
}

namespace r1::ui {

class TokenText {
 public:
  TokenText() = default;
  // Loads the tokenizer.json of the model folder `dir`; throws std::exception naming the file when it cannot.
  static TokenText fromModelDir(const QString& dir);
  // True when `dir` holds a tokenizer.json to load.
  static bool hasTokenizerFile(const QString& dir);

  bool hasTokenizer() const { return tokenizer_ != nullptr; }
  const QString& source() const { return source_; }  // the folder it came from, empty without one
  QString text(qint32 id) const;

 private:
  std::shared_ptr<const r1::Tokenizer> tokenizer_;
  QString source_;
};

}  // namespace r1::ui
