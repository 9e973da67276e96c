#include "traces_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include "chat_reply_picker.h"
#include "completion_view.h"
#include "core/run_store.h"
#include "prompt_table_model.h"
#include "step_list_model.h"

namespace r1::ui {

using r1::app::PromptFilter;

TracesPage::TracesPage(const QString& store_path, QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("tracesPage"));
  steps_ = new StepListModel(this);
  prompts_ = new PromptTableModel(this);
  buildLayout();
  connect(steps_, &StepListModel::loadFailed, this, &TracesPage::report);
  connect(prompts_, &PromptTableModel::loadFailed, this, &TracesPage::report);
  connect(chat_replies_, &ChatReplyPicker::loadFailed, this, &TracesPage::report);
  connect(chat_replies_, &ChatReplyPicker::replyPicked, this, &TracesPage::onReplyPicked);
  connect(run_picker_, &QComboBox::currentIndexChanged, this, &TracesPage::onRunPicked);
  connect(step_list_->selectionModel(), &QItemSelectionModel::currentChanged, this, &TracesPage::applyFilter);
  connect(prompt_table_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          &TracesPage::onPromptChanged);
  connect(outcome_, &QComboBox::currentIndexChanged, this, &TracesPage::applyFilter);
  connect(zero_spread_, &QCheckBox::toggled, this, &TracesPage::applyFilter);
  search_delay_.setSingleShot(true);
  search_delay_.setInterval(300);
  connect(&search_delay_, &QTimer::timeout, this, &TracesPage::applyFilter);
  connect(search_, &QLineEdit::textChanged, this, [this] { search_delay_.start(); });
  connect(search_, &QLineEdit::returnPressed, this, &TracesPage::applyFilter);
  connect(colouring_, &QComboBox::currentIndexChanged, this,
          [this] { completions_->setColouring(TokenColouring(colouring_->currentData().toInt())); });
  setStorePath(store_path);
}

TracesPage::~TracesPage() = default;

void TracesPage::buildLayout() {
  auto* layout = new QVBoxLayout(this);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Run"), this));
  run_picker_ = new QComboBox(this);
  run_picker_->setObjectName(QStringLiteral("tracesRunPicker"));
  top->addWidget(run_picker_, 2);
  auto* reload = new QPushButton(tr("Refresh"), this);
  connect(reload, &QPushButton::clicked, this, &TracesPage::refresh);
  top->addWidget(reload);
  top->addSpacing(12);
  outcome_ = new QComboBox(this);
  outcome_->setObjectName(QStringLiteral("tracesOutcomeFilter"));
  outcome_->addItem(tr("All prompts"), int(PromptFilter::Outcome::Any));
  outcome_->addItem(tr("Some completion correct"), int(PromptFilter::Outcome::SomeCorrect));
  outcome_->addItem(tr("No completion correct"), int(PromptFilter::Outcome::NoneCorrect));
  top->addWidget(outcome_);
  zero_spread_ = new QCheckBox(tr("Zero reward spread only"), this);
  zero_spread_->setToolTip(tr("Groups whose completions all got the same reward: GRPO learns nothing there"));
  top->addWidget(zero_spread_);
  search_ = new QLineEdit(this);
  search_->setObjectName(QStringLiteral("tracesSearch"));
  search_->setPlaceholderText(tr("Search prompts, thinking and answers"));
  search_->setClearButtonEnabled(true);
  top->addWidget(search_, 2);
  top->addWidget(new QLabel(tr("Colour tokens by"), this));
  colouring_ = new QComboBox(this);
  colouring_->setObjectName(QStringLiteral("tracesColouring"));
  colouring_->addItem(tr("log-probability"), int(TokenColouring::LogProbability));
  colouring_->addItem(tr("advantage"), int(TokenColouring::Advantage));
  top->addWidget(colouring_);
  layout->addLayout(top);
  chat_replies_ = new ChatReplyPicker(this);
  layout->addWidget(chat_replies_);

  auto* split = new QSplitter(Qt::Horizontal, this);
  step_list_ = new QListView(split);
  step_list_->setObjectName(QStringLiteral("tracesSteps"));
  step_list_->setModel(steps_);
  step_list_->setUniformItemSizes(true);
  step_list_->setMinimumWidth(
      step_list_->fontMetrics().horizontalAdvance(QStringLiteral("Step 00000   reward 0.000  acc 0.000")) +
      32);
  auto* right = new QSplitter(Qt::Vertical, split);
  prompt_table_ = new QTableView(right);
  prompt_table_->setObjectName(QStringLiteral("tracesPrompts"));
  prompt_table_->setModel(prompts_);
  prompt_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  prompt_table_->setSelectionMode(QAbstractItemView::SingleSelection);
  prompt_table_->verticalHeader()->hide();
  prompt_table_->verticalHeader()->setDefaultSectionSize(prompt_table_->fontMetrics().height() + 6);
  QHeaderView* header = prompt_table_->horizontalHeader();
  header->setSectionResizeMode(PromptTableModel::PromptColumn, QHeaderView::Stretch);
  const QFontMetrics metrics = prompt_table_->fontMetrics();
  for (int column : {int(PromptTableModel::IndexColumn), int(PromptTableModel::RewardColumn),
                     int(PromptTableModel::SpreadColumn), int(PromptTableModel::CorrectColumn)})
    header->resizeSection(column, metrics.horizontalAdvance(QStringLiteral("0000000000")));
  completions_ = new CompletionView(right);
  right->setStretchFactor(0, 2);
  right->setStretchFactor(1, 3);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 5);
  layout->addWidget(split, 1);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("tracesStatus"));
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(status_);
}

void TracesPage::setStorePath(const QString& path) {
  openStore(path);
  chat_replies_->setStore(store_.get());
  fillRunPicker(0);
}

void TracesPage::openStore(const QString& path) {
  store_path_ = path;
  store_error_.clear();
  steps_->setRun(nullptr, 0);  // nothing may read the old connection once it is closed
  prompts_->setQuery(nullptr, 0, 0, {});
  chat_replies_->setStore(nullptr);
  store_.reset();
  try {
    store_ = std::make_unique<r1::app::RunStore>(path);
  } catch (const std::exception& e) {
    store_error_ = QString::fromUtf8(e.what());
    emit statusMessage(store_error_);
  }
}

void TracesPage::refresh() {
  const qint64 step = stepNumber();
  const qint64 run = runId();
  chat_replies_->setStore(store_.get());
  fillRunPicker(run);
  if (runId() == run && run > 0) selectStep(step);
}

void TracesPage::fillRunPicker(qint64 keep_run) {
  {
    const QSignalBlocker block(run_picker_);
    run_picker_->clear();
    if (store_) {
      try {
        for (const auto& r : store_->runs(500, 0))
          run_picker_->addItem(tr("#%1 %2 · %3 · %4 · %5")
                                   .arg(r.id)
                                   .arg(r.kind, QFileInfo(r.model).fileName(), r.status,
                                        QDateTime::fromMSecsSinceEpoch(r.created_ms)
                                            .toString(QStringLiteral("yyyy-MM-dd hh:mm"))),
                               r.id);
      } catch (const std::exception& e) {
        report(QString::fromUtf8(e.what()));
      }
    }
    run_picker_->setPlaceholderText(tr("No training runs in this store"));
    run_picker_->setCurrentIndex(-1);
  }
  const int keep = run_picker_->findData(keep_run);
  run_picker_->setCurrentIndex(keep >= 0 ? keep : (run_picker_->count() ? 0 : -1));
  if (run_picker_->currentIndex() < 0) onRunPicked(-1);
}

void TracesPage::showRun(qint64 run_id) {
  int index = run_picker_->findData(run_id);
  if (index < 0) {  // a run started since the list was read
    fillRunPicker(run_id);
    index = run_picker_->findData(run_id);
  }
  if (index < 0) {
    report(tr("Run %1 is not in %2").arg(run_id).arg(store_path_));
    return;
  }
  if (index == run_picker_->currentIndex())
    onRunPicked(index);
  else
    run_picker_->setCurrentIndex(index);
}

void TracesPage::onRunPicked(int index) {
  const qint64 run = index >= 0 ? run_picker_->itemData(index).toLongLong() : 0;
  steps_->setRun(store_.get(), run);
  loadTokenizer();
  selectStep(steps_->stepAt(0));
}

void TracesPage::selectStep(qint64 step) {
  int row = 0;
  while (row < steps_->rowCount() && steps_->stepAt(row) != step) ++row;
  if (row == steps_->rowCount()) row = 0;
  if (steps_->rowCount() > 0)
    step_list_->setCurrentIndex(steps_->index(row));
  else
    applyFilter();
}

void TracesPage::applyFilter() {
  search_delay_.stop();
  PromptFilter filter;
  filter.outcome = PromptFilter::Outcome(outcome_->currentData().toInt());
  filter.zero_spread_only = zero_spread_->isChecked();
  filter.search = search_->text();
  const QModelIndex current = step_list_->currentIndex();
  const qint64 step = current.isValid() ? steps_->stepAt(current.row()) : 0;
  prompts_->setQuery(store_.get(), steps_->runId(), step, filter);
  if (prompts_->rowCount() > 0)
    prompt_table_->setCurrentIndex(prompts_->index(0, PromptTableModel::PromptColumn));
  else
    completions_->clear(step > 0 ? tr("No prompt of step %1 passes the filter.").arg(step) : QString());
  updateStatus();
}

void TracesPage::onPromptChanged(const QModelIndex& current) {
  const r1::app::PromptSummary* p = current.isValid() ? prompts_->promptAt(current.row()) : nullptr;
  if (!p || !store_) return;
  try {
    const auto group = store_->groupRollouts(prompts_->runId(), prompts_->step(), p->prompt_index);
    completions_->showGroup(tr("Step %1, prompt %2: %3 of %4 correct, reward %5 ± %6\n%7")
                                .arg(prompts_->step())
                                .arg(p->prompt_index)
                                .arg(p->correct)
                                .arg(p->completions)
                                .arg(p->reward_mean, 0, 'f', 3)
                                .arg(p->reward_std, 0, 'f', 3)
                                .arg(p->prompt),
                            group);
  } catch (const std::exception& e) {
    report(QString::fromUtf8(e.what()));
  }
}

void TracesPage::onReplyPicked(const QString& title, const r1::app::ChatMessage& reply) {
  completions_->showReply(title, reply);
  // Picking the same prompt again then shows it again.
  const QSignalBlocker block(prompt_table_->selectionModel());
  prompt_table_->selectionModel()->clear();
}

void TracesPage::setModelDir(const QString& dir) {
  model_dir_ = dir;
  loadTokenizer();
}

void TracesPage::loadTokenizer() {
  QString dir = model_dir_;
  if (store_ && runId() > 0) {
    try {
      const auto run = store_->run(runId());
      if (run && TokenText::hasTokenizerFile(run->model)) dir = run->model;  // the run's own vocabulary
    } catch (const std::exception& e) {
      report(QString::fromUtf8(e.what()));
    }
  }
  if (dir == token_text_.source() && (dir.isEmpty() || token_text_.hasTokenizer())) return;
  tokenizer_error_.clear();
  token_text_ = TokenText();
  if (!dir.isEmpty()) {
    try {
      token_text_ = TokenText::fromModelDir(dir);
    } catch (const std::exception& e) {
      tokenizer_error_ = QString::fromUtf8(e.what());
      emit statusMessage(tr("Tokens are shown as ids: %1").arg(tokenizer_error_));
    }
  }
  completions_->setTokenText(token_text_);
  updateStatus();
}

qint64 TracesPage::runId() const {
  return steps_->runId();
}

qint64 TracesPage::stepNumber() const {
  return prompts_->step();
}

QString TracesPage::statusText() const {
  return status_->text();
}

void TracesPage::report(const QString& message) {
  status_->setText(message);
  emit statusMessage(message);
}

void TracesPage::updateStatus() {
  if (!store_) {
    status_->setText(tr("No run store: %1").arg(store_error_));
    return;
  }
  const PromptFilter& f = prompts_->filter();
  const bool filtered = f.outcome != PromptFilter::Outcome::Any || f.zero_spread_only || !f.search.isEmpty();
  QStringList parts;
  if (runId() > 0) parts << tr("Run %1: %n step(s)", nullptr, steps_->totalCount()).arg(runId());
  if (stepNumber() > 0)
    parts << (filtered ? tr("step %1: %n prompt(s) pass the filter", nullptr, prompts_->totalCount())
                       : tr("step %1: %n prompt(s)", nullptr, prompts_->totalCount()))
                 .arg(stepNumber());
  parts << (token_text_.hasTokenizer()
                ? tr("tokens named by %1's tokenizer").arg(QFileInfo(token_text_.source()).fileName())
                : tr("tokens shown as ids"));
  if (!tokenizer_error_.isEmpty()) parts << tokenizer_error_;
  status_->setText(parts.join(QStringLiteral("  ·  ")));
}

}  // namespace r1::ui
