#include "run_store.h"

#include <QAtomicInteger>
#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QStringList>
#include <QVariant>
#include <QtEndian>
#include <algorithm>
#include <cmath>
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
    // Training runs. A rollout references its step, so deleting a step (a resumed run redoing it) takes its
    // rollouts along, and a rollout can never outlive the step it belongs to. reward and advantage may be
    // NULL because SQLite stores a NaN as NULL. tokens and logprobs are little-endian int32 and float32
    // arrays. The primary and unique keys double as the (run_id, step) indices.
    {
        "CREATE TABLE runs ("
        "  id INTEGER PRIMARY KEY,"
        "  kind TEXT NOT NULL,"
        "  model TEXT NOT NULL DEFAULT '',"
        "  config TEXT NOT NULL DEFAULT '{}',"
        "  status TEXT NOT NULL DEFAULT 'running'"
        "    CHECK (status IN ('running', 'finished', 'cancelled', 'failed')),"
        "  created_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL)",
        "CREATE TABLE steps ("
        "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        "  step INTEGER NOT NULL CHECK (step >= 1),"
        "  metrics TEXT NOT NULL DEFAULT '{}',"
        "  created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (run_id, step))",
        "CREATE TABLE rollouts ("
        "  id INTEGER PRIMARY KEY,"
        "  run_id INTEGER NOT NULL,"
        "  step INTEGER NOT NULL,"
        "  prompt_index INTEGER NOT NULL,"
        "  group_index INTEGER NOT NULL,"
        "  prompt TEXT NOT NULL,"
        "  thinking TEXT NOT NULL,"
        "  answer TEXT NOT NULL,"
        "  rewards TEXT NOT NULL DEFAULT '{}',"
        "  reward REAL,"
        "  advantage REAL,"
        "  truncated INTEGER NOT NULL DEFAULT 0,"
        "  tokens BLOB NOT NULL,"
        "  logprobs BLOB NOT NULL,"
        "  FOREIGN KEY (run_id, step) REFERENCES steps(run_id, step) ON DELETE CASCADE,"
        "  UNIQUE (run_id, step, prompt_index, group_index))",
        "CREATE TABLE checkpoints ("
        "  id INTEGER PRIMARY KEY,"
        "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        "  step INTEGER NOT NULL,"
        "  path TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  UNIQUE (run_id, step))",
        nullptr,
    },
    // The traces view: whether each rollout is correct (see isCorrect), worked out once when it is written,
    // and an index that answers a step's per-prompt reward statistics without reading the rollouts' text.
    {
        "ALTER TABLE rollouts ADD COLUMN correct INTEGER NOT NULL DEFAULT 0",
        "UPDATE rollouts SET correct = 1 WHERE"
        " COALESCE(json_extract(rewards, '$.countdown'), 0) >= 0.999999"
        " OR COALESCE(json_extract(rewards, '$.arithmetic'), 0) >= 0.999999"
        " OR COALESCE(json_extract(rewards, '$.math'), 0) >= 0.999999"
        " OR COALESCE(json_extract(rewards, '$.accuracy'), 0) >= 0.999999",
        "CREATE INDEX rollouts_by_prompt ON rollouts(run_id, step, prompt_index, reward, correct)",
        nullptr,
    },
};
constexpr int kMigrationCount = int(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kMigrationCount == RunStore::kSchemaVersion, "one migration per schema version");

QString json_text(const QJsonObject& o) {
  return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

QJsonObject json_object(const QVariant& v) {
  return QJsonDocument::fromJson(v.toString().toUtf8()).object();
}

// SQLite turns a NaN into NULL; a NaN reward or advantage is worth seeing as such rather than as 0.
double real_or_nan(const QVariant& v) {
  return v.isNull() ? std::nan("") : v.toDouble();
}

template <typename T>
QVariant blob(const QVector<T>& values) {
  if (values.isEmpty()) return QVariant(QByteArray("", 0));  // a null QByteArray would bind as SQL NULL
  QByteArray bytes(values.size() * qsizetype(sizeof(T)), Qt::Uninitialized);
  qToLittleEndian<T>(values.constData(), values.size(), bytes.data());
  return bytes;
}

const char* const kRunColumns = "id, kind, model, config, status, created_ms, updated_ms";

RunInfo read_run(const QSqlQuery& q) {
  RunInfo r;
  r.id = q.value(0).toLongLong();
  r.kind = q.value(1).toString();
  r.model = q.value(2).toString();
  r.config = json_object(q.value(3));
  r.status = q.value(4).toString();
  r.created_ms = q.value(5).toLongLong();
  r.updated_ms = q.value(6).toLongLong();
  return r;
}

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

  // For a statement run many times in one transaction: prepared once, bound and run per row.
  QSqlQuery prepare(const QString& sql) const {
    QSqlQuery q(db_);
    if (!q.prepare(sql)) fail(q, sql);
    return q;
  }
  void run(QSqlQuery& q, const QVariantList& binds) const {
    for (int i = 0; i < binds.size(); ++i) q.bindValue(i, binds[i]);
    if (!q.exec()) fail(q, q.lastQuery());
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

// A task reward of 1.0 up to rounding; schema version 3's backfill of the correct column uses the same bound.
constexpr double kCorrectReward = 0.999999;

const char* const kRolloutColumns =
    "prompt_index, group_index, prompt, thinking, answer, rewards, reward, advantage, truncated, tokens,"
    " logprobs";

RolloutEntry read_rollout(const QSqlQuery& q, const QString& path, qint64 run_id, qint64 step) {
  RolloutEntry r;
  r.prompt_index = q.value(0).toLongLong();
  r.group_index = q.value(1).toLongLong();
  r.prompt = q.value(2).toString();
  r.thinking = q.value(3).toString();
  r.answer = q.value(4).toString();
  r.rewards = json_object(q.value(5));
  r.reward = real_or_nan(q.value(6));
  r.advantage = real_or_nan(q.value(7));
  r.truncated = q.value(8).toInt() != 0;
  const QByteArray tokens = q.value(9).toByteArray();
  const QByteArray logprobs = q.value(10).toByteArray();
  if (tokens.size() % 4 != 0 || logprobs.size() % 4 != 0)
    throw StoreError(
        QStringLiteral("run store %1: run %2 step %3 rollout (%4, %5): token or log-prob array of "
                       "%6 or %7 bytes is not a whole number of 4-byte values")
            .arg(path)
            .arg(run_id)
            .arg(step)
            .arg(r.prompt_index)
            .arg(r.group_index)
            .arg(tokens.size())
            .arg(logprobs.size())
            .toStdString());
  r.tokens.resize(tokens.size() / 4);
  if (!r.tokens.empty()) qFromLittleEndian<qint32>(tokens.constData(), r.tokens.size(), r.tokens.data());
  r.logprobs.resize(logprobs.size() / 4);
  if (!r.logprobs.empty())
    qFromLittleEndian<float>(logprobs.constData(), r.logprobs.size(), r.logprobs.data());
  return r;
}

}  // namespace

RunStore::RunStore(const QString& path) : path_(path), owner_(QThread::currentThread()) {
  const QFileInfo info(path);
  if (!QDir().mkpath(info.absolutePath()))
    throw StoreError(QStringLiteral("run store %1: cannot create its folder").arg(path).toStdString());
  if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QSQLITE")))
    throw StoreError(
        QStringLiteral("run store %1: Qt's SQLite driver is not available (%2)")
            .arg(path,
                 QCoreApplication::instance()
                     ? QStringLiteral("install the Qt 6 SQLite plugin, libqt6sql6-sqlite on Debian")
                     : QStringLiteral("it is a plugin, loaded only once the program has a QCoreApplication"))
            .toStdString());
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
    // WAL with synchronous=NORMAL: a commit has reached the operating system before COMMIT returns, so it
    // survives the process being killed (tst_store_crash kills a writer with SIGKILL); only a power cut or
    // kernel crash can lose the last commits, and never half of one. FULL would add an fsync to every
    // training step only to keep those last few steps through a power cut.
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

namespace {

void require_run(const Db& db, const QString& path, qint64 run_id) {
  QSqlQuery q = db.exec(QStringLiteral("SELECT 1 FROM runs WHERE id = ?"), {run_id});
  if (!q.next())
    throw StoreError(
        QStringLiteral("run store %1: run %2 does not exist").arg(path).arg(run_id).toStdString());
}

qint64 last_step(const Db& db, qint64 run_id) {
  QSqlQuery q =
      db.exec(QStringLiteral("SELECT COALESCE(MAX(step), 0) FROM steps WHERE run_id = ?"), {run_id});
  return q.next() ? q.value(0).toLongLong() : 0;
}

}  // namespace

qint64 RunStore::createRun(const QString& kind, const QString& model, const QJsonObject& config) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  const qint64 t = now_ms();
  const qint64 id =
      db.insert(QStringLiteral("INSERT INTO runs (kind, model, config, status, created_ms, updated_ms)"
                               " VALUES (?, ?, ?, 'running', ?, ?)"),
                {text(kind), text(model), json_text(config), t, t});
  tx.commit();
  return id;
}

qint64 RunStore::resumeRun(qint64 run_id) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  require_run(db, path_, run_id);
  db.exec(QStringLiteral("UPDATE runs SET status = 'running', updated_ms = ? WHERE id = ?"),
          {now_ms(), run_id});
  const qint64 last = last_step(db, run_id);
  tx.commit();
  return last;
}

void RunStore::finishRun(qint64 run_id, const QString& status) {
  checkThread();
  static const QStringList kEndings = {QStringLiteral("finished"), QStringLiteral("cancelled"),
                                       QStringLiteral("failed")};
  if (!kEndings.contains(status))
    throw StoreError(
        QStringLiteral("run store %1: a run ends \"finished\", \"cancelled\" or \"failed\", not \"%2\"")
            .arg(path_, status)
            .toStdString());
  const Db db(connection_, path_);
  Transaction tx(db);
  require_run(db, path_, run_id);
  db.exec(QStringLiteral("UPDATE runs SET status = ?, updated_ms = ? WHERE id = ?"),
          {status, now_ms(), run_id});
  tx.commit();
}

void RunStore::recordStep(qint64 run_id, qint64 step, const QJsonObject& metrics,
                          const QVector<RolloutEntry>& rollouts) {
  checkThread();
  if (step < 1)
    throw StoreError(QStringLiteral("run store %1: run %2 step %3: steps start at 1")
                         .arg(path_)
                         .arg(run_id)
                         .arg(step)
                         .toStdString());
  const Db db(connection_, path_);
  Transaction tx(db);
  require_run(db, path_, run_id);
  // Steps after this one belong to the trajectory a resumed run abandoned; their rollouts go with them.
  db.exec(QStringLiteral("DELETE FROM steps WHERE run_id = ? AND step >= ?"), {run_id, step});
  const qint64 t = now_ms();
  db.exec(QStringLiteral("INSERT INTO steps (run_id, step, metrics, created_ms) VALUES (?, ?, ?, ?)"),
          {run_id, step, json_text(metrics), t});
  QSqlQuery insert = db.prepare(QStringLiteral(
      "INSERT INTO rollouts (run_id, step, prompt_index, group_index, prompt, thinking, answer, rewards,"
      " reward, advantage, truncated, tokens, logprobs, correct)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  for (const RolloutEntry& r : rollouts)
    db.run(insert, {run_id, step, r.prompt_index, r.group_index, text(r.prompt), text(r.thinking),
                    text(r.answer), json_text(r.rewards), r.reward, r.advantage, r.truncated ? 1 : 0,
                    blob(r.tokens), blob(r.logprobs), isCorrect(r.rewards) ? 1 : 0});
  db.exec(QStringLiteral("UPDATE runs SET updated_ms = ? WHERE id = ?"), {t, run_id});
  tx.commit();
}

void RunStore::recordCheckpoint(qint64 run_id, qint64 step, const QString& path) {
  checkThread();
  const Db db(connection_, path_);
  Transaction tx(db);
  require_run(db, path_, run_id);
  const qint64 t = now_ms();
  db.exec(QStringLiteral("INSERT INTO checkpoints (run_id, step, path, created_ms) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path,"
                         " created_ms = excluded.created_ms"),
          {run_id, step, text(path), t});
  db.exec(QStringLiteral("UPDATE runs SET updated_ms = ? WHERE id = ?"), {t, run_id});
  tx.commit();
}

QVector<RunInfo> RunStore::runs(int limit, int offset) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT %1 FROM runs ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?")
                    .arg(QLatin1String(kRunColumns)),
                {limit, offset});
  QVector<RunInfo> out;
  while (q.next()) out.push_back(read_run(q));
  return out;
}

std::optional<RunInfo> RunStore::run(qint64 run_id) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT %1 FROM runs WHERE id = ?").arg(QLatin1String(kRunColumns)), {run_id});
  if (!q.next()) return std::nullopt;
  return read_run(q);
}

QVector<StepEntry> RunStore::steps(qint64 run_id, qint64 after_step) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT step, metrics, created_ms FROM steps WHERE run_id = ? AND step > ?"
                               " ORDER BY step"),
                {run_id, after_step});
  QVector<StepEntry> out;
  while (q.next()) out.push_back({q.value(0).toLongLong(), json_object(q.value(1)), q.value(2).toLongLong()});
  return out;
}

QVector<RolloutEntry> RunStore::rollouts(qint64 run_id, qint64 step) const {
  checkThread();
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("SELECT %1 FROM rollouts WHERE run_id = ? AND step = ?"
                                         " ORDER BY prompt_index, group_index")
                              .arg(QLatin1String(kRolloutColumns)),
                          {run_id, step});
  QVector<RolloutEntry> out;
  while (q.next()) out.push_back(read_rollout(q, path_, run_id, step));
  return out;
}

QVector<CheckpointEntry> RunStore::checkpoints(qint64 run_id) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_)
          .exec(
              QStringLiteral("SELECT step, path, created_ms FROM checkpoints WHERE run_id = ? ORDER BY step"),
              {run_id});
  QVector<CheckpointEntry> out;
  while (q.next()) out.push_back({q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toLongLong()});
  return out;
}

qint64 RunStore::lastStep(qint64 run_id) const {
  checkThread();
  return last_step(Db(connection_, path_), run_id);
}

int RunStore::runCount() const {
  checkThread();
  QSqlQuery q = Db(connection_, path_).exec(QStringLiteral("SELECT COUNT(*) FROM runs"));
  return q.next() ? q.value(0).toInt() : 0;
}

int RunStore::stepCount(qint64 run_id) const {
  checkThread();
  QSqlQuery q =
      Db(connection_, path_).exec(QStringLiteral("SELECT COUNT(*) FROM steps WHERE run_id = ?"), {run_id});
  return q.next() ? q.value(0).toInt() : 0;
}

QVector<StepEntry> RunStore::stepPage(qint64 run_id, int limit, int offset) const {
  checkThread();
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("SELECT step, metrics, created_ms FROM steps WHERE run_id = ?"
                                         " ORDER BY step LIMIT ? OFFSET ?"),
                          {run_id, limit, offset});
  QVector<StepEntry> out;
  while (q.next()) out.push_back({q.value(0).toLongLong(), json_object(q.value(1)), q.value(2).toLongLong()});
  return out;
}

namespace {

// The HAVING clause of a step's per-prompt grouping and its bound values. Without a search the grouping
// reads only the rollouts_by_prompt index; a search has to read the text.
QString prompt_conditions(const PromptFilter& filter, QVariantList& binds) {
  QStringList having;
  if (filter.outcome == PromptFilter::Outcome::SomeCorrect) having << QStringLiteral("SUM(correct) > 0");
  if (filter.outcome == PromptFilter::Outcome::NoneCorrect) having << QStringLiteral("SUM(correct) = 0");
  if (filter.zero_spread_only) having << QStringLiteral("COALESCE(MAX(reward) - MIN(reward), 0) <= 1e-9");
  if (!filter.search.isEmpty()) {
    QString escaped = filter.search;
    escaped.replace(QLatin1Char('\\'), QStringLiteral("\\\\"))
        .replace(QLatin1Char('%'), QStringLiteral("\\%"))
        .replace(QLatin1Char('_'), QStringLiteral("\\_"));
    const QString pattern = QLatin1Char('%') + escaped + QLatin1Char('%');
    having << QStringLiteral(
        "MAX(prompt LIKE ? ESCAPE '\\' OR thinking LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\') = 1");
    binds << pattern << pattern << pattern;
  }
  return having.isEmpty() ? QString() : QStringLiteral(" HAVING ") + having.join(QStringLiteral(" AND "));
}

}  // namespace

QVector<PromptSummary> RunStore::prompts(qint64 run_id, qint64 step, const PromptFilter& filter, int limit,
                                         int offset) const {
  checkThread();
  QVariantList binds{run_id, step, run_id, step};
  const QString having = prompt_conditions(filter, binds);
  binds << limit << offset;
  // The page of groups first, then the prompt text of just those groups.
  QSqlQuery q =
      Db(connection_, path_)
          .exec(QStringLiteral("SELECT g.prompt_index, (SELECT r.prompt FROM rollouts r WHERE r.run_id = ?"
                               " AND r.step = ? AND r.prompt_index = g.prompt_index"
                               " ORDER BY r.group_index LIMIT 1), g.n, g.correct, g.mean, g.square,"
                               " g.spread FROM (SELECT prompt_index, COUNT(*) AS n,"
                               " SUM(correct) AS correct, AVG(reward) AS mean,"
                               " AVG(reward * reward) AS square,"
                               " COALESCE(MAX(reward) - MIN(reward), 0) AS spread FROM rollouts"
                               " WHERE run_id = ? AND step = ? GROUP BY prompt_index%1"
                               " ORDER BY prompt_index LIMIT ? OFFSET ?) g ORDER BY g.prompt_index")
                    .arg(having),
                binds);
  QVector<PromptSummary> out;
  while (q.next()) {
    PromptSummary p;
    p.prompt_index = q.value(0).toLongLong();
    p.prompt = q.value(1).toString();
    p.completions = q.value(2).toInt();
    p.correct = q.value(3).toInt();
    p.reward_mean = real_or_nan(q.value(4));
    p.zero_spread = q.value(6).toDouble() <= 1e-9;
    // Equal rewards have no spread; E[r^2] - E[r]^2 would leave a rounding residue.
    const double variance = p.zero_spread ? 0.0 : real_or_nan(q.value(5)) - p.reward_mean * p.reward_mean;
    p.reward_std = std::isnan(variance) ? variance : std::sqrt(std::max(0.0, variance));
    out.push_back(std::move(p));
  }
  return out;
}

int RunStore::promptCount(qint64 run_id, qint64 step, const PromptFilter& filter) const {
  checkThread();
  QVariantList binds{run_id, step};
  const QString having = prompt_conditions(filter, binds);
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("SELECT COUNT(*) FROM (SELECT prompt_index FROM rollouts"
                                         " WHERE run_id = ? AND step = ? GROUP BY prompt_index%1)")
                              .arg(having),
                          binds);
  return q.next() ? q.value(0).toInt() : 0;
}

QVector<RolloutEntry> RunStore::groupRollouts(qint64 run_id, qint64 step, qint64 prompt_index,
                                              int limit) const {
  checkThread();
  QSqlQuery q = Db(connection_, path_)
                    .exec(QStringLiteral("SELECT %1 FROM rollouts WHERE run_id = ? AND step = ?"
                                         " AND prompt_index = ? ORDER BY group_index LIMIT ?")
                              .arg(QLatin1String(kRolloutColumns)),
                          {run_id, step, prompt_index, limit});
  QVector<RolloutEntry> out;
  while (q.next()) out.push_back(read_rollout(q, path_, run_id, step));
  return out;
}

bool isCorrect(const QJsonObject& rewards) {
  for (const char* task : {"countdown", "arithmetic", "math", "accuracy"}) {
    const QJsonValue v = rewards.value(QLatin1String(task));
    if (v.isDouble() && v.toDouble() >= kCorrectReward) return true;
  }
  return false;
}

QString defaultStorePath() {
  const QByteArray env = qgetenv("R1WB_STORE");
  if (!env.isEmpty()) return QString::fromLocal8Bit(env);
  QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  if (dir.isEmpty()) dir = QDir::homePath() + QStringLiteral("/.local/share/r1-workbench");
  return dir + QStringLiteral("/runs.sqlite");
}

}  // namespace r1::app
