#pragma once
// The Traces page: what a training run generated, step by step. A run picker, the run's steps, the chosen
// step's prompts (filtered by outcome, by zero reward spread and by a text search) and the chosen prompt's
// completions side by side, with their tokens coloured by log-probability or advantage. A chat reply from
// the Chat page can be opened in the same view. Steps and prompts are read from the run store a page at a
// time, so a run of any size opens at once.
#include <QTimer>
#include <QWidget>
#include <memory>

#include "token_text.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QModelIndex;
class QTableView;

namespace r1::app {
class RunStore;
struct ChatMessage;
}  // namespace r1::app

namespace r1::ui {

class ChatReplyPicker;
class CompletionView;
class PromptTableModel;
class StepListModel;

class TracesPage : public QWidget {
  Q_OBJECT

 public:
  // Opens its own connection to the store at `store_path`; a store that cannot be opened is reported on the
  // page, which stays usable.
  explicit TracesPage(const QString& store_path, QWidget* parent = nullptr);
  ~TracesPage() override;

  void setStorePath(const QString& path);
  // Re-reads the runs, the shown run's steps and the conversations, keeping what is selected where it can.
  void refresh();
  void showRun(qint64 run_id);
  // The tokenizer to name tokens with when the run's own model folder has none; empty: token ids only.
  void setModelDir(const QString& dir);
  // Re-reads the step's prompts through the outcome, spread and search boxes (the search box waits for a
  // pause in typing before calling this).
  void applyFilter();

  qint64 runId() const;
  qint64 stepNumber() const;  // the step whose prompts are listed, 0 when none
  const TokenText& tokenText() const { return token_text_; }
  QString statusText() const;
  QComboBox* runPicker() const { return run_picker_; }
  QListView* stepList() const { return step_list_; }
  QTableView* promptTable() const { return prompt_table_; }
  StepListModel* stepModel() const { return steps_; }
  PromptTableModel* promptModel() const { return prompts_; }
  CompletionView* completionView() const { return completions_; }
  QComboBox* outcomeFilter() const { return outcome_; }
  QCheckBox* zeroSpreadFilter() const { return zero_spread_; }
  QLineEdit* searchBox() const { return search_; }
  QComboBox* colouringPicker() const { return colouring_; }
  ChatReplyPicker* chatReplyPicker() const { return chat_replies_; }

 signals:
  void statusMessage(const QString& message);

 private:
  void buildLayout();
  void openStore(const QString& path);
  void fillRunPicker(qint64 keep_run);
  void onRunPicked(int index);
  void onPromptChanged(const QModelIndex& current);
  void onReplyPicked(const QString& title, const r1::app::ChatMessage& reply);
  void selectStep(qint64 step);
  void loadTokenizer();
  void report(const QString& message);
  void updateStatus();

  std::unique_ptr<r1::app::RunStore> store_;
  QString store_path_;
  QString store_error_;
  QString model_dir_;
  TokenText token_text_;
  QString tokenizer_error_;
  QTimer search_delay_;

  QComboBox* run_picker_ = nullptr;
  QComboBox* outcome_ = nullptr;
  QCheckBox* zero_spread_ = nullptr;
  QLineEdit* search_ = nullptr;
  QComboBox* colouring_ = nullptr;
  ChatReplyPicker* chat_replies_ = nullptr;
  QListView* step_list_ = nullptr;
  QTableView* prompt_table_ = nullptr;
  StepListModel* steps_ = nullptr;
  PromptTableModel* prompts_ = nullptr;
  CompletionView* completions_ = nullptr;
  QLabel* status_ = nullptr;
};

}  // namespace r1::ui
