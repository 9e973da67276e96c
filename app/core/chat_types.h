#pragma once
// Value types that travel between the chat worker thread and the GUI through queued signals, and into the
// run store. Plain data: copying one never touches the engine.
#include <QMetaType>
#include <QString>
#include <QVector>

namespace r1::app {

// Which part of a reply a piece of text belongs to: the reasoning trace or the answer.
enum class ReplyPhase { Thinking, Answer };

struct ReplyStats {
  qint64 prompt_tokens = 0;      // the whole context fed for this reply
  qint64 reused_tokens = 0;      // of which were already in the KV cache
  qint64 completion_tokens = 0;  // generated, thinking included
  qint64 thinking_tokens = 0;
  double first_token_seconds = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  double thinking_seconds = 0;   // from the start of the reply to the end of its thinking
  double tokens_per_second = 0;  // decode speed
  QString stop_reason;           // eos, max_tokens, context_full, cancelled, ... (empty while streaming)
  qint64 context_used = 0;       // tokens in the KV cache after this reply
  qint64 context_max = 0;
  qint64 dropped_messages = 0;  // earliest turns left out so the conversation fits the context
  QString model;
  QString device;

  bool finished() const { return !stop_reason.isEmpty(); }
};

struct ChatMessage {
  qint64 id = 0;  // the run store's id, 0 until stored
  QString role;   // "system", "user" or "assistant"
  QString content;
  QString reasoning;  // the assistant's thinking, apart from the answer
  ReplyStats stats;   // assistant replies only
};

// The KV cache as the runtime accounts for it, plus what full per-head K/V would take for comparison.
struct KvSnapshot {
  qint64 bytes_per_token = 0;
  qint64 bytes_per_token_layer = 0;
  qint64 mha_bytes_per_token_layer = 0;  // the same model with one K and one V per attention head
  QString cache_kind;                    // what one token's cache holds: "MLA latent, 576 values", "GQA, …"
  qint64 capacity_tokens = 0;
  qint64 used_tokens = 0;
  qint64 total_bytes = 0;
  qint64 max_context = 0;  // longest context one sequence may hold
  int layers = 0;

  qint64 used_bytes() const { return used_tokens * bytes_per_token; }
};

struct ModelInfo {
  QString name;
  QString dir;
  QString architecture;
  QString device;              // "cpu" or "cuda"
  QString device_description;  // e.g. the CPU or GPU name
  QString chat_format;         // which chat template the prompt uses
  QString chat_warning;        // set when the template was not recognised and ChatML is used instead
  qint64 parameters = 0;
  qint64 weight_bytes = 0;
  qint64 max_context = 0;
  bool has_think_tokens = false;  // the vocabulary knows <think> and </think>
  KvSnapshot kv;
};

struct ChatSettings {
  double temperature = 0.6;
  double top_p = 0.95;
  int max_tokens = 512;
  QString system_prompt;
  bool keep_reasoning = false;  // keep earlier replies' thinking in the context
  bool drop_oldest = true;  // a conversation longer than the context loses its earliest turns; else refused
  quint64 seed = 0;         // 0: a fresh seed per reply
};

// One reply to generate: the conversation so far, ending with the user's turn. Messages from
// `persist_from` on are new or edited; the store drops what it held from that position and writes them.
struct ChatRequest {
  quint64 request_id = 0;
  qint64 conversation_id = 0;  // 0: not stored
  QVector<ChatMessage> messages;
  int persist_from = 0;
  ChatSettings settings;
};

struct ConversationSummary {
  qint64 id = 0;
  QString title;
  QString model;
  qint64 created_ms = 0;
  qint64 updated_ms = 0;
  int message_count = 0;
};

}  // namespace r1::app

Q_DECLARE_METATYPE(r1::app::ReplyPhase)
Q_DECLARE_METATYPE(r1::app::ReplyStats)
Q_DECLARE_METATYPE(r1::app::ChatMessage)
Q_DECLARE_METATYPE(r1::app::KvSnapshot)
Q_DECLARE_METATYPE(r1::app::ModelInfo)
Q_DECLARE_METATYPE(r1::app::ChatRequest)
Q_DECLARE_METATYPE(r1::app::ConversationSummary)
