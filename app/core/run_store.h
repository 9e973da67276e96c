#pragma once
// The run store: one SQLite file holding conversations and their messages (answers, reasoning and
// per-reply stats), and training runs: each run's steps with their metrics, every rollout of a step, and the
// checkpoints. A RunStore is one connection, usable only in the thread that opened it; every thread that
// reads or writes opens its own. Every write is one transaction. The schema is versioned (PRAGMA
// user_version) and upgraded in place when an older file is opened.
#include <QJsonObject>
#include <QString>
#include <QThread>
#include <QVector>
#include <optional>
#include <stdexcept>

#include "chat_types.h"

namespace r1::app {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunInfo {
  qint64 id = 0;
  QString kind;  // "grpo", "sft", ...
  QString model;
  QJsonObject config;
  QString status;  // "running", "finished", "cancelled" or "failed"
  qint64 created_ms = 0;
  qint64 updated_ms = 0;  // the last step, checkpoint or status change
};

struct StepEntry {
  qint64 step = 0;
  QJsonObject metrics;
  qint64 created_ms = 0;
};

struct RolloutEntry {
  qint64 prompt_index = 0;  // within the step
  qint64 group_index = 0;   // completion number within its prompt's group
  QString prompt;
  QString thinking, answer;
  QJsonObject rewards;  // reward function name -> unweighted reward
  double reward = 0;    // weighted total; NaN stays NaN
  double advantage = 0;
  bool truncated = false;
  QVector<qint32> tokens;   // completion tokens
  QVector<float> logprobs;  // the rollout policy's log-probability of each
};

// A step's prompt as the traces view lists it: its group of completions summed up.
struct PromptSummary {
  qint64 prompt_index = 0;
  QString prompt;
  int completions = 0;
  int correct = 0;           // completions whose task reward (see isCorrect) is 1.0
  double reward_mean = 0;    // over the completions whose reward is not NaN; NaN when none is
  double reward_std = 0;     // population standard deviation, the spread GRPO normalises by
  bool zero_spread = false;  // every completion got the same reward: the group teaches nothing
};

// Which of a step's prompts to list. The conditions combine: NoneCorrect with zero_spread_only is the
// groups where every completion failed alike.
struct PromptFilter {
  enum class Outcome { Any, SomeCorrect, NoneCorrect };
  Outcome outcome = Outcome::Any;
  bool zero_spread_only = false;
  // A prompt matches when its text or any completion's thinking or answer holds this, as typed (SQL LIKE:
  // ASCII letters match either case; % and _ are plain characters). Empty: no text condition.
  QString search;
};

// A completion counts as correct when one of the task verifiers (countdown, arithmetic, math, accuracy)
// gave it 1.0; the format and length rewards say nothing about correctness.
bool isCorrect(const QJsonObject& rewards);

struct CheckpointEntry {
  qint64 step = 0;
  QString path;
  qint64 created_ms = 0;
};

class RunStore {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens the file at `path`, creating it (and its folder) when absent. Throws StoreError naming the file.
  explicit RunStore(const QString& path);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const QString& path() const { return path_; }
  int schemaVersion() const;

  qint64 createConversation(const QString& title, const QString& model);
  void renameConversation(qint64 id, const QString& title);
  void deleteConversation(qint64 id);  // its messages go with it
  // Most recently updated first; `offset` and `limit` page through a long list.
  QVector<ConversationSummary> conversations(int limit = 1000, int offset = 0) const;
  int conversationCount() const;
  std::optional<ConversationSummary> conversation(qint64 id) const;

  QVector<ChatMessage> messages(qint64 conversation_id) const;
  // Drops the conversation's messages from `position` on and writes `messages` there, in one transaction.
  // Returns the new messages' ids in order.
  QVector<qint64> replaceMessagesFrom(qint64 conversation_id, int position,
                                      const QVector<ChatMessage>& messages);
  qint64 appendMessage(qint64 conversation_id, const ChatMessage& message);
  int messageCount(qint64 conversation_id) const;

  // Training runs. A new run starts "running"; finishRun takes "finished", "cancelled" or "failed".
  qint64 createRun(const QString& kind, const QString& model, const QJsonObject& config);
  // Sets the run running again and returns its last recorded step (0 when none).
  qint64 resumeRun(qint64 run_id);
  void finishRun(qint64 run_id, const QString& status);
  // The step and all its rollouts in one transaction: after a crash a step is wholly there or absent. Steps
  // start at 1. Recording step n again drops the run's steps from n on (a resumed run redoing the steps after
  // its last checkpoint), so the steps held are always the one trajectory that led to the latest.
  void recordStep(qint64 run_id, qint64 step, const QJsonObject& metrics,
                  const QVector<RolloutEntry>& rollouts);
  // One checkpoint per step: saving again at a step replaces its path.
  void recordCheckpoint(qint64 run_id, qint64 step, const QString& path);

  // Newest first; `offset` and `limit` page through a long list.
  QVector<RunInfo> runs(int limit = 1000, int offset = 0) const;
  std::optional<RunInfo> run(qint64 run_id) const;
  // In step order; `after_step` lets a live view fetch only what is new.
  QVector<StepEntry> steps(qint64 run_id, qint64 after_step = 0) const;
  // Ordered by prompt, then by completion within the prompt's group.
  QVector<RolloutEntry> rollouts(qint64 run_id, qint64 step) const;
  QVector<CheckpointEntry> checkpoints(qint64 run_id) const;  // in step order
  qint64 lastStep(qint64 run_id) const;                       // 0 when none

  // Paged reads for views over large runs: each is one LIMIT/OFFSET query over an index and holds only its
  // page in memory. A step's prompt statistics come from an index without reading the rollouts' text; only
  // a text search reads that.
  int runCount() const;
  int stepCount(qint64 run_id) const;
  QVector<StepEntry> stepPage(qint64 run_id, int limit, int offset) const;  // in step order
  // The step's prompts that pass `filter`, by prompt index.
  QVector<PromptSummary> prompts(qint64 run_id, qint64 step, const PromptFilter& filter, int limit,
                                 int offset) const;
  int promptCount(qint64 run_id, qint64 step, const PromptFilter& filter = {}) const;
  // One prompt's group, by completion number; at most `limit` of them.
  QVector<RolloutEntry> groupRollouts(qint64 run_id, qint64 step, qint64 prompt_index,
                                      int limit = 1024) const;

 private:
  void checkThread() const;
  void migrate();

  QString path_;
  QString connection_;
  QThread* owner_ = nullptr;
};

// Where the GUI and the CLI keep their store unless told otherwise (R1WB_STORE overrides it).
QString defaultStorePath();

}  // namespace r1::app
