#include "chat_export.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStringList>

#include "run_store.h"

namespace r1::app {
namespace {

QString isoTime(qint64 ms) {
  return QDateTime::fromMSecsSinceEpoch(ms).toUTC().toString(Qt::ISODate);
}

QString roleHeading(const QString& role) {
  if (role.isEmpty()) return QStringLiteral("Message");
  return role.left(1).toUpper() + role.mid(1);
}

// Each line behind "> ", so the reasoning reads as one quoted block whatever Markdown it holds.
QString quoted(const QString& text) {
  QStringList lines = text.trimmed().split(QLatin1Char('\n'));
  for (QString& line : lines) line = line.isEmpty() ? QStringLiteral(">") : QStringLiteral("> ") + line;
  return lines.join(QLatin1Char('\n'));
}

QString statsLine(const ReplyStats& s) {
  QStringList parts;
  parts << (s.thinking_tokens > 0
                ? QStringLiteral("%1 tokens (%2 thinking)").arg(s.completion_tokens).arg(s.thinking_tokens)
                : QStringLiteral("%1 tokens").arg(s.completion_tokens));
  if (s.tokens_per_second > 0) parts << QStringLiteral("%1 tokens/s").arg(s.tokens_per_second, 0, 'f', 1);
  if (s.first_token_seconds > 0)
    parts << QStringLiteral("first token %1 s").arg(s.first_token_seconds, 0, 'f', 3);
  if (s.finished()) parts << QStringLiteral("stop: %1").arg(s.stop_reason);
  if (s.context_max > 0) parts << QStringLiteral("context %1 / %2").arg(s.context_used).arg(s.context_max);
  if (!s.model.isEmpty())
    parts << (s.device.isEmpty() ? s.model : QStringLiteral("%1 on %2").arg(s.model, s.device));
  return parts.join(QStringLiteral(" · "));
}

QJsonObject statsJson(const ReplyStats& s) {
  return {{QStringLiteral("prompt_tokens"), s.prompt_tokens},
          {QStringLiteral("reused_tokens"), s.reused_tokens},
          {QStringLiteral("completion_tokens"), s.completion_tokens},
          {QStringLiteral("thinking_tokens"), s.thinking_tokens},
          {QStringLiteral("first_token_seconds"), s.first_token_seconds},
          {QStringLiteral("prefill_seconds"), s.prefill_seconds},
          {QStringLiteral("decode_seconds"), s.decode_seconds},
          {QStringLiteral("thinking_seconds"), s.thinking_seconds},
          {QStringLiteral("tokens_per_second"), s.tokens_per_second},
          {QStringLiteral("stop_reason"), s.stop_reason},
          {QStringLiteral("context_used"), s.context_used},
          {QStringLiteral("context_max"), s.context_max},
          {QStringLiteral("dropped_messages"), s.dropped_messages},
          {QStringLiteral("model"), s.model},
          {QStringLiteral("device"), s.device}};
}

bool isAssistant(const ChatMessage& m) {
  return m.role == QLatin1String("assistant");
}

}  // namespace

QString conversationMarkdown(const ConversationSummary& conversation, const QVector<ChatMessage>& messages) {
  QStringList out;
  out << QStringLiteral("# %1").arg(conversation.title.isEmpty()
                                        ? QStringLiteral("Conversation %1").arg(conversation.id)
                                        : conversation.title);
  out << QString();
  if (!conversation.model.isEmpty()) out << QStringLiteral("- Model: %1").arg(conversation.model);
  out << QStringLiteral("- Started: %1").arg(isoTime(conversation.created_ms));
  out << QStringLiteral("- Messages: %1").arg(messages.size());
  for (const ChatMessage& m : messages) {
    out << QString() << QStringLiteral("## %1").arg(roleHeading(m.role)) << QString();
    if (isAssistant(m) && !m.reasoning.trimmed().isEmpty()) {
      out << QStringLiteral("> **Thinking**") << QStringLiteral(">") << quoted(m.reasoning) << QString();
    }
    out << m.content.trimmed();
    if (isAssistant(m) && (m.stats.completion_tokens > 0 || m.stats.finished()))
      out << QString() << QStringLiteral("*%1*").arg(statsLine(m.stats));
  }
  return out.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

QJsonObject conversationJson(const ConversationSummary& conversation, const QVector<ChatMessage>& messages) {
  QJsonArray list;
  for (const ChatMessage& m : messages) {
    QJsonObject message{{QStringLiteral("role"), m.role}, {QStringLiteral("content"), m.content}};
    if (isAssistant(m)) {
      message.insert(QStringLiteral("reasoning_content"), m.reasoning);
      message.insert(QStringLiteral("stats"), statsJson(m.stats));
    }
    list.append(message);
  }
  return {{QStringLiteral("id"), conversation.id},
          {QStringLiteral("title"), conversation.title},
          {QStringLiteral("model"), conversation.model},
          {QStringLiteral("created"), isoTime(conversation.created_ms)},
          {QStringLiteral("updated"), isoTime(conversation.updated_ms)},
          {QStringLiteral("messages"), list}};
}

void writeExportFile(const QString& path, const QByteArray& bytes) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
    throw ExportError(QStringLiteral("cannot write %1: %2").arg(path, file.errorString()).toStdString());
}

void exportConversation(const RunStore& store, qint64 id, const QString& path) {
  const std::optional<ConversationSummary> conversation = store.conversation(id);
  if (!conversation)
    throw StoreError(QStringLiteral("%1 holds no conversation %2").arg(store.path()).arg(id).toStdString());
  const QVector<ChatMessage> messages = store.messages(id);
  if (path.endsWith(QLatin1String(".json"), Qt::CaseInsensitive))
    writeExportFile(path,
                    QJsonDocument(conversationJson(*conversation, messages)).toJson(QJsonDocument::Indented));
  else
    writeExportFile(path, conversationMarkdown(*conversation, messages).toUtf8());
}

}  // namespace r1::app
