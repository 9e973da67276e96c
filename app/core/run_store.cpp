#include "run_store.h"

#include <QAtomicInteger>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QVariant>
#include <algorithm>
#include <limits>

namespace r1::app {
namespace {

QAtomicInteger<quint64> g_connection_counter;

qint64 now_ms() {
  return QDateTime::currentMSecsSinceEpoch();
}

// A null QString binds as SQL NULL; text columns are NOT NULL, so bind an empty string instead.
QVariant text(const QString& s) {
  return s.isNull() ? QVariant(QStringLiteral("")) : QVariant(s);
}

// Each entry upgrades the schema by one version; entry i takes a file from version i to i + 1.
const char* const kMigrations[][8] = {
    {
        "CREATE TABLE conversations ("
        "  id INTEGER PRIMARY KEY,"
        "  title TEXT NOT NULL,"
        "  model TEXT NOT NULL DEFAULT '',"
        "  created_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL)",
        "CREATE TABLE messages ("
        "  id INTEGER PRIMARY KEY,"
        "  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
        "  position INTEGER NOT NULL,"
        "  role TEXT NOT NULL,"
        "  content TEXT NOT NULL,"
        "  reasoning TEXT NOT NULL DEFAULT '',"
        "  created_ms INTEGER NOT NULL,"
        "  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
        "  reused_tokens INTEGER NOT NULL DEFAULT 0,"
        "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
        "  thinking_tokens INTEGER NOT NULL DEFAULT 0,"
        "  first_token_s REAL NOT NULL DEFAULT 0,"
        "  prefill_s REAL NOT NULL DEFAULT 0,"
        "  decode_s REAL NOT NULL DEFAULT 0,"
        "  thinking_s REAL NOT NULL DEFAULT 0,"
        "  tokens_per_second REAL NOT NULL DEFAULT 0,"
        "  stop_reason TEXT NOT NULL DEFAULT '',"
        "  context_used INTEGER NOT NULL DEFAULT 0,"
        "  context_max INTEGER NOT NULL DEFAULT 0,"
        "  dropped_messages INTEGER NOT NULL DEFAULT 0,"
        "  model TEXT NOT NULL DEFAULT '',"
        "  device TEXT NOT NULL DEFAULT '',"
        "  UNIQUE (conversation_id, position))",
        "CREATE INDEX conversations_by_update ON conversations(updated_ms DESC)",
        nullptr,
    },
};
constexpr int kMigrationCount = int(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kMigrationCount == RunStore::kSchemaVersion, "one migration per schema version");

const char* const kMessageColumns =
    "id, role, content, reasoning, prompt_tokens, reused_tokens, completion_tokens, thinking_tokens,"
    " first_token_s, prefill_s, decode_s, thinking_s, tokens_per_second, stop_reason, context_used,"
    " context_max, dropped_messages, model, device";

class Db {
 public:
  Db(const QString& connection, const QString& path)
      : db_(QSqlDatabase::database(connection, false)), path_(path) {}

  QSqlQuery exec(const QString& sql, const QVariantList& binds = {}) const {
    QSqlQuery q(db_);
    if (!q.prepare(sql)) fail(q, sql);
    for (const QVariant& b : binds) q.addBindValue(b);
    if (!q.exec()) fail(q, sql);
    return q;
  }

  qint64 insert(const QString& sql, const QVariantList& binds) const {
    return exec(sql, binds).lastInsertId().toLongLong();
  }

  // IMMEDIATE takes the write lock up front: a transaction that reads before it writes never fails halfway
  // because another connection wrote in between; it waits for the busy timeout instead.
  void begin() const { exec(QStringLiteral("BEGIN IMMEDIATE")); }
  void commit() const { exec(QStringLiteral("COMMIT")); }
  void rollback() const {
    QSqlQuery q(db_);
    q.exec(QStringLiteral("ROLLBACK"));
  }

 private:
  [[noreturn]] void fail(const QSqlQuery& q, const QString& sql) const {
    throw StoreError(message(QStringLiteral("query failed (%1)").arg(sql.left(60)), q.lastError()));
  }
  std::string message(const QString& what, const QSqlError& e) const {
    return QStringLiteral("run store %1: %2: %3").arg(path_, what, e.text()).toStdString();
  }

  QSqlDatabase db_;
  QString path_;
};

// Rolls back unless committed, so an exception never leaves half a write behind.
class Transaction {
 public:
  explicit Transaction(const Db& db) : db_(db) { db_.begin(); }
  ~Transaction() {
    if (!done_) db_.rollback();
  }
  void commit() {
    db_.commit();
    done_ = true;
  }

 private:
  const Db& db_;
  bool done_ = false;
};

ChatMessage read_message(const QSqlQuery& q) {
  ChatMessage m;
  int c = 0;
  m.id = q.value(c++).toLongLong();
  m.role = q.value(c++).toString();
  m.content = q.value(c++).toString();
  m.reasoning = q.value(c++).toString();
  ReplyStats& s = m.stats;
  s.prompt_tokens = q.value(c++).toLongLong();
  s.reused_tokens = q.value(c++).toLongLong();
  s.completion_tokens = q.value(c++).toLongLong();
  s.thinking_tokens = q.value(c++).toLongLong();
  s.first_token_seconds = q.value(c++).toDouble();
  s.prefill_seconds = q.value(c++).toDouble();
  s.decode_seconds = q.value(c++).toDouble();
  s.thinking_seconds = q.value(c++).toDouble();
  s.tokens_per_second = q.value(c++).toDouble();
  s.stop_reason = q.value(c++).toString();
  s.context_used = q.value(c++).toLongLong();
  s.context_max = q.value(c++).toLongLong();
  s.dropped_messages = q.value(c++).toLongLong();
  s.model = q.value(c++).toString();
  s.device = q.value(c++).toString();
  return m;
}

QVariantList message_binds(qint64 conversation_id, int position, const ChatMessage& m, qint64 when) {
  const ReplyStats& s = m.stats;
  return {conversation_id,       position,
          text(m.role),          text(m.content),
          text(m.reasoning),     when,
          s.prompt_tokens,       s.reused_tokens,
          s.completion_tokens,   s.thinking_tokens,
          s.first_token_seconds, s.prefill_seconds,
          s.decode_seconds,      s.thinking_seconds,
          s.tokens_per_second,   text(s.stop_reason),
          s.context_used,        s.context_max,
          s.dropped_messages,    text(s.model),
          text(s.device)};
}

ConversationSummary read_summary(const QSqlQuery& q) {
  ConversationSummary c;
  c.id = q.value(0).toLongLong();
  c.title = q.value(1).toString();
  c.model = q.value(2).toString();
  c.created_ms = q.value(3).toLongLong();
  c.updated_ms = q.value(4).toLongLong();
  c.message_count = q.value(5).toInt();
  return c;
}

const char* const kSummarySelect =
    "SELECT c.id, c.title, c.model, c.created_ms, c.updated_ms,"
    " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) FROM conversations c";

}  // namespace

RunStore::RunStore(const QString& path) : path_(path), owner_(QThread::currentThread()) {
  const QFileInfo info(path);
  if (!QDir().mkpath(info.absolutePath()))
    throw StoreError(QStringLiteral("run store %1: cannot create its folder").arg(path).toStdString());
  connection_ = QStringLiteral("r1wb-store-%1").arg(++g_connection_counter);
  {
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection_);
    db.setDatabaseName(path);
    db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=10000"));
    if (!db.open()) {
      const QString why = db.lastError().text();
      db = QSqlDatabase();
      QSqlDatabase::removeDatabase(connection_);
      throw StoreError(QStringLiteral("run store %1: cannot open: %2").arg(path, why).toStdString());
    }
  }
  try {
    const Db db(connection_, path_);
    db.exec(QStringLiteral("PRAGMA foreign_keys = ON"));
    db.exec(QStringLiteral("PRAGMA journal_mode = WAL"));
    db.exec(QStringLiteral("PRAGMA synchronous = NORMAL"));
    migrate();
  } catch (...) {
    QSqlDatabase::database(connection_, false).close();
    QSqlDatabase::removeDatabase(connection_);
    throw;
  }
}

RunStore::~RunStore() {
  {
    QSqlDatabase db = QSqlDatabase::database(connection_, false);
    db.close();
  }
  QSqlDatabase::removeDatabase(connection_);
}

void RunStore::checkThread() const {
  if (QThread::currentThread() != owner_)
    throw StoreError(
        QStringLiteral("run store %1: used from a thread that did not open it; open a RunStore per thread")
            .arg(path_)
            .toStdString());
}

int RunStore::schemaVersion() const {
  checkThread();
  QSqlQuery q = Db(connection_, path_).exec(QStringLiteral("PRAGMA user_version"));
  return q.next() ? q.value(0).toInt() : 0;
}

void RunStore::migrate() {
  const Db db(connection_, path_);
  Transaction tx(db);  // two threads opening a fresh file at once: the second waits, then sees the schema
  int version = 0;
  {
    QSqlQuery q = db.exec(QStringLiteral("PRAGMA user_version"));
    version = q.next() ? q.value(0).toInt() : 0;
  }
  if (version > kSchemaVersion)
    throw StoreError(QStringLiteral("run store %1 has schema version %2; this build reads versions up to %3. "
                                    "Use a newer R1 Workbench or another store file.")
                         .arg(path_)
                         .arg(version)
                         .arg(kSchemaVersion)
                         .toStdString());
  if (version == kSchemaVersion) return;
  for (int v = version; v < kSchemaVersion; ++v)
    for (const char* const* sql = kMigrations[v]; *sql; ++sql) db.exec(QString::fromUtf8(*sql));
  db.exec(QStringLiteral("PRAGMA user_version = %1").arg(kSchemaVersion));
  tx.commit();
}

qint64 RunStore::createConversation(const QString& title, const QString& model) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  const qint64 t = now_ms();
  const qint64 id = db.insert(
      QStringLiteral("INSERT INTO conversations (title, model, created_ms, updated_ms) VALUES (?, ?, ?, ?)"),
      {text(title), text(model), t, t});
  tx.commit();
  return id;
}

void RunStore::renameConversation(qint64 id, const QString& title) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  db.exec(QStringLiteral("UPDATE conversations SET title = ? WHERE id = ?"), {text(title), id});
  tx.commit();
}

void RunStore::deleteConversation(qint64 id) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  db.exec(QStringLiteral("DELETE FROM conversations WHERE id = ?"), {id});
  tx.commit();
}

QVector<ConversationSummary> RunStore::conversations(int limit, int offset) const {
  checkThread();
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("%1 ORDER BY c.updated_ms DESC, c.id DESC LIMIT ? OFFSET ?")
                              .arg(QLatin1String(kSummarySelect)),
                          {limit, offset});
  QVector<ConversationSummary> out;
  while (q.next()) out.push_back(read_summary(q));
  return out;
}

int RunStore::conversationCount() const {
  checkThread();
  QSqlQuery q = Db(connection_, path_).exec(QStringLiteral("SELECT COUNT(*) FROM conversations"));
  return q.next() ? q.value(0).toInt() : 0;
}

std::optional<ConversationSummary> RunStore::conversation(qint64 id) const {
  checkThread();
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("%1 WHERE c.id = ?").arg(QLatin1String(kSummarySelect)), {id});
  if (!q.next()) return std::nullopt;
  return read_summary(q);
}

QVector<ChatMessage> RunStore::messages(qint64 conversation_id) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT %1 FROM messages WHERE conversation_id = ? ORDER BY position")
                    .arg(QLatin1String(kMessageColumns)),
                {conversation_id});
  QVector<ChatMessage> out;
  while (q.next()) out.push_back(read_message(q));
  return out;
}

int RunStore::messageCount(qint64 conversation_id) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT COUNT(*) FROM messages WHERE conversation_id = ?"), {conversation_id});
  return q.next() ? q.value(0).toInt() : 0;
}

QVector<qint64> RunStore::replaceMessagesFrom(qint64 conversation_id, int position,
                                              const QVector<ChatMessage>& messages) {
  checkThread();
  if (position < 0) throw StoreError("run store: message position must not be negative");
  const Db db(connection_, path_);
  Transaction tx(db);
  {
    QSqlQuery exists = db.exec(QStringLiteral("SELECT 1 FROM conversations WHERE id = ?"), {conversation_id});
    if (!exists.next())
      throw StoreError(QStringLiteral("run store %1: conversation %2 does not exist")
                           .arg(path_)
                           .arg(conversation_id)
                           .toStdString());
  }
  db.exec(QStringLiteral("DELETE FROM messages WHERE conversation_id = ? AND position >= ?"),
          {conversation_id, position});
  int held = 0;
  {
    QSqlQuery count =
        db.exec(QStringLiteral("SELECT COUNT(*) FROM messages WHERE conversation_id = ?"), {conversation_id});
    held = count.next() ? count.value(0).toInt() : 0;
  }
  const int first = std::min(position, held);  // positions stay dense
  const qint64 t = now_ms();
  QVector<qint64> ids;
  const QString insert = QStringLiteral(
      "INSERT INTO messages (conversation_id, position, role, content, reasoning, created_ms, prompt_tokens,"
      " reused_tokens, completion_tokens, thinking_tokens, first_token_s, prefill_s, decode_s, thinking_s,"
      " tokens_per_second, stop_reason, context_used, context_max, dropped_messages, model, device)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (int i = 0; i < messages.size(); ++i)
    ids.push_back(db.insert(insert, message_binds(conversation_id, first + i, messages[i], t)));
  db.exec(QStringLiteral("UPDATE conversations SET updated_ms = ? WHERE id = ?"), {t, conversation_id});
  tx.commit();
  return ids;
}

qint64 RunStore::appendMessage(qint64 conversation_id, const ChatMessage& message) {
  return replaceMessagesFrom(conversation_id, std::numeric_limits<int>::max(), {message}).front();
}

QString defaultStorePath() {
  const QByteArray env = qgetenv("R1WB_STORE");
  if (!env.isEmpty()) return QString::fromLocal8Bit(env);
  QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  if (dir.isEmpty()) dir = QDir::homePath() + QStringLiteral("/.local/share/r1-workbench");
  return dir + QStringLiteral("/runs.sqlite");
}

}  // namespace r1::app
