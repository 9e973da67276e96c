#pragma once
// A stored conversation written out for people and for programs. Markdown: the title and model, then each
// message under its role; an assistant reply's reasoning comes first as a quoted "Thinking" block, its
// figures (tokens, speed, stop reason) under the answer. JSON: the conversation's fields and OpenAI-style
// messages, a reply's reasoning in reasoning_content (DeepSeek's API name) and its figures in stats.
#include <QJsonObject>
#include <QString>
#include <QVector>
#include <stdexcept>

#include "chat_types.h"

namespace r1::app {

class RunStore;

// A file that could not be written; the message names it.
class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

QString conversationMarkdown(const ConversationSummary& conversation, const QVector<ChatMessage>& messages);
QJsonObject conversationJson(const ConversationSummary& conversation, const QVector<ChatMessage>& messages);

// Conversation `id` of `store` written to `path`: JSON when the name ends in .json, else Markdown. Throws
// StoreError for a conversation the store lacks, ExportError for a file that cannot be written.
void exportConversation(const RunStore& store, qint64 id, const QString& path);

// Writes `bytes` to `path` whole (through a temporary file, so a failure leaves no half-written file).
void writeExportFile(const QString& path, const QByteArray& bytes);

}  // namespace r1::app
