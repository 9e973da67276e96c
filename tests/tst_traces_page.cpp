// The Traces page under QT_QPA_PLATFORM=offscreen, over a run store written here with hand-made rollouts:
// the newest run opens on its first step, the step list and the prompt rows carry the group statistics,
// the filters and the search narrow the prompts, a prompt's completions show side by side with their
// rewards and advantage, each token's tooltip carries its log-probability (on hover too), the tokens take
// their text from a tokenizer when one is loaded, a chat reply opens in the same view, a refresh picks up
// what a run wrote since, a store that cannot open is reported, and a store of 100 000 rollouts is read one
// page at a time.
#include <QCheckBox>
#include <QComboBox>
#include <QHelpEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QTableView>
#include <QTextBlock>
#include <QTextBrowser>
#include <QToolTip>
#include <QtTest/QtTest>
#include <cmath>

#include "core/run_store.h"
#include "engine/tokenizer/tokenizer.h"
#include "testlib/test_support.h"
#include "traces/chat_reply_picker.h"
#include "traces/completion_column.h"
#include "traces/completion_view.h"
#include "traces/prompt_table_model.h"
#include "traces/step_list_model.h"
#include "traces/traces_page.h"

using r1::app::RolloutEntry;
using r1::app::RunStore;
using r1::ui::CompletionColumn;
using r1::ui::PromptTableModel;
using r1::ui::StepListModel;
using r1::ui::TracesPage;

namespace {

constexpr int kGroup = 4;

struct Prompt {
  QString text;
  QVector<double> accuracy, format;  // per completion
};

// The first step: all right alike, one right, all wrong alike, one right after a thought to search for.
const QVector<Prompt> kStep1 = {
    {QStringLiteral("Reach 24 with 3 4 8"), {1, 1, 1, 1}, {1, 1, 1, 1}},
    {QStringLiteral("Compute 17 * 3"), {1, 0, 0, 0}, {1, 1, 0, 1}},
    {QStringLiteral("What is 50% of 80?"), {0, 0, 0, 0}, {1, 1, 1, 1}},
    {QStringLiteral("Prime after 7?"), {0, 0, 1, 0}, {1, 0, 1, 1}},
};

// A group as GRPO leaves it: total reward accuracy + 0.2 format, advantage the reward's z-score in the
// group, three tokens per completion with log-probabilities from near-certain to unlikely.
QVector<RolloutEntry> group(qint64 prompt_index, const Prompt& p) {
  QVector<RolloutEntry> out;
  double mean = 0, square = 0;
  for (int g = 0; g < kGroup; ++g) {
    RolloutEntry r;
    r.prompt_index = prompt_index;
    r.group_index = g;
    r.prompt = p.text;
    r.thinking = g == 0 && prompt_index == 3 ? QStringLiteral("EIGHT is even, nine is not prime")
                                             : QStringLiteral("thought %1.%2").arg(prompt_index).arg(g);
    r.answer = QStringLiteral("answer %1.%2").arg(prompt_index).arg(g);
    r.rewards = {{QStringLiteral("accuracy"), p.accuracy[g]}, {QStringLiteral("format"), p.format[g]}};
    r.reward = p.accuracy[g] + 0.2 * p.format[g];
    r.truncated = p.format[g] == 0;
    r.tokens = {qint32(1000 + 10 * prompt_index + g), qint32(2000 + g), qint32(3000 + g)};
    r.logprobs = {-0.01f * float(g + 1), -1.0f - float(g), -6.0f - float(g)};
    mean += r.reward / kGroup;
    square += r.reward * r.reward / kGroup;
    out.push_back(r);
  }
  const double spread = std::sqrt(std::max(0.0, square - mean * mean));
  for (auto& r : out) r.advantage = (r.reward - mean) / (spread + 1e-4);
  return out;
}

QVector<RolloutEntry> step_rollouts(const QVector<Prompt>& prompts) {
  QVector<RolloutEntry> out;
  for (int i = 0; i < prompts.size(); ++i) out += group(i, prompts[i]);
  return out;
}

QString qpath(const std::filesystem::path& p) {
  return QString::fromStdString(p.string());
}

struct Fragment {
  QString text, tooltip;
  QColor background;
  int position = 0;
};

QVector<Fragment> fragments(const QTextDocument* document) {
  QVector<Fragment> out;
  for (QTextBlock b = document->begin(); b.isValid(); b = b.next())
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      const QTextFragment f = it.fragment();
      out.push_back({f.text(), f.charFormat().toolTip(), f.charFormat().background().color(), f.position()});
    }
  return out;
}

QVector<qint64> listed_prompts(const PromptTableModel* model) {
  QVector<qint64> out;
  for (int row = 0; row < model->rowCount(); ++row) out << model->promptAt(row)->prompt_index;
  return out;
}

}  // namespace

class TestTracesPage : public QObject {
  Q_OBJECT

  std::unique_ptr<r1::test::TempDir> tmp_;
  QString store_path_;
  qint64 run_ = 0;
  qint64 older_run_ = 0;

 private slots:
  void initTestCase() {
    tmp_ = std::make_unique<r1::test::TempDir>();
    store_path_ = qpath(*tmp_ / "runs.sqlite");
    RunStore store(store_path_);
    older_run_ = store.createRun(QStringLiteral("grpo"), QStringLiteral("/models/older"), {});
    store.recordStep(older_run_, 1, {}, group(0, kStep1[0]));
    run_ = store.createRun(QStringLiteral("grpo"), QStringLiteral("/models/newer"), {});
    store.recordStep(run_, 1, {{QStringLiteral("reward_mean"), 0.625}, {QStringLiteral("accuracy"), 0.375}},
                     step_rollouts(kStep1));
    store.recordStep(run_, 2, {{QStringLiteral("reward_mean"), 0.5}}, step_rollouts({kStep1[1], kStep1[2]}));
    store.recordStep(run_, 3, {}, step_rollouts({kStep1[3]}));
    const qint64 chat = store.createConversation(QStringLiteral("Arithmetic"), QStringLiteral("r1-tiny"));
    r1::app::ChatMessage question, reply;
    question.role = QStringLiteral("user");
    question.content = QStringLiteral("What is 6 * 7?");
    reply.role = QStringLiteral("assistant");
    reply.reasoning = QStringLiteral("Six sevens are forty-two.");
    reply.content = QStringLiteral("42");
    reply.stats.completion_tokens = 12;
    store.replaceMessagesFrom(chat, 0, {question, reply});
  }

  void opensTheNewestRunOnItsFirstStep() {
    TracesPage page(store_path_);
    QCOMPARE(page.runPicker()->count(), 2);
    QCOMPARE(page.runId(), run_);
    QCOMPARE(page.stepModel()->rowCount(), 3);
    QVERIFY(!page.stepModel()->canFetchMore({}));
    const QString first = page.stepModel()->index(0).data().toString();
    QVERIFY2(first.contains(QStringLiteral("Step 1")) && first.contains(QStringLiteral("0.625")) &&
                 first.contains(QStringLiteral("0.375")),
             qPrintable(first));
    QCOMPARE(page.stepNumber(), qint64(1));

    const PromptTableModel* prompts = page.promptModel();
    QCOMPARE(prompts->rowCount(), int(kStep1.size()));
    for (int row = 0; row < kStep1.size(); ++row) {
      const Prompt& p = kStep1[row];
      int correct = 0;
      double mean = 0;
      for (int g = 0; g < kGroup; ++g) {
        correct += p.accuracy[g] == 1.0 ? 1 : 0;
        mean += (p.accuracy[g] + 0.2 * p.format[g]) / kGroup;
      }
      const auto cell = [&](int column) { return prompts->index(row, column).data().toString(); };
      QCOMPARE(cell(PromptTableModel::PromptColumn), p.text);
      QCOMPARE(cell(PromptTableModel::CorrectColumn), QStringLiteral("%1/%2").arg(correct).arg(kGroup));
      QCOMPARE(cell(PromptTableModel::RewardColumn), QString::number(mean, 'f', 3));
      const bool flat = p.accuracy == QVector<double>(kGroup, p.accuracy[0]) &&
                        p.format == QVector<double>(kGroup, p.format[0]);
      QCOMPARE(cell(PromptTableModel::SpreadColumn) == QStringLiteral("zero"), flat);
    }

    page.showRun(older_run_);
    QCOMPARE(page.runId(), older_run_);
    QCOMPARE(page.stepModel()->rowCount(), 1);
    QCOMPARE(page.promptModel()->rowCount(), 1);
  }

  void showsAGroupSideBySide() {
    TracesPage page(store_path_);
    page.resize(1600, 1000);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    page.promptTable()->setCurrentIndex(page.promptModel()->index(1, PromptTableModel::PromptColumn));
    const QVector<RolloutEntry> expected = group(1, kStep1[1]);
    const r1::ui::CompletionView* view = page.completionView();
    QCOMPARE(view->columnCount(), kGroup);
    QVERIFY(view->titleLabel()->text().contains(kStep1[1].text));
    for (int g = 0; g < kGroup; ++g) {
      const RolloutEntry& r = expected[g];
      const CompletionColumn* c = view->column(g);
      const QString reward = c->rewardLabel()->text();
      QVERIFY2(reward.startsWith(QStringLiteral("reward %1").arg(r.reward, 0, 'f', 2)), qPrintable(reward));
      QVERIFY2(reward.contains(QStringLiteral("accuracy %1").arg(kStep1[1].accuracy[g], 0, 'f', 2)) &&
                   reward.contains(QStringLiteral("format %1").arg(kStep1[1].format[g], 0, 'f', 2)),
               qPrintable(reward));
      QVERIFY2(c->advantageBadge()->text().contains(QString::number(std::abs(r.advantage), 'f', 2)),
               qPrintable(c->advantageBadge()->text()));
      const QColor badge = c->badgeColour();
      if (r.advantage > 0) QVERIFY(badge.green() > badge.red());
      if (r.advantage < 0) QVERIFY(badge.red() > badge.green());
      QCOMPARE(c->titleLabel()->text().contains(QStringLiteral("correct")), kStep1[1].accuracy[g] == 1.0);
      QCOMPARE(c->lengthLabel()->text().contains(QStringLiteral("truncated")), r.truncated);
      QCOMPARE(c->thinkingView()->toPlainText(), r.thinking);
      QCOMPARE(c->answerView()->toPlainText(), r.answer);

      // One fragment per token (no tokenizer: shown as ids), its tooltip carrying id and log-probability.
      const auto tokens = fragments(c->tokenView()->document());
      QCOMPARE(tokens.size(), r.tokens.size());
      for (int k = 0; k < tokens.size(); ++k) {
        QCOMPARE(tokens[k].text, QStringLiteral("#%1").arg(r.tokens[k]));
        QVERIFY2(tokens[k].tooltip.contains(QStringLiteral("log p %1").arg(r.logprobs[k], 0, 'f', 3)) &&
                     tokens[k].tooltip.contains(QStringLiteral("token %1").arg(r.tokens[k])),
                 qPrintable(tokens[k].tooltip));
      }
      // Coloured by log-probability: the near-certain first token green, the unlikely last one red.
      QVERIFY(tokens.first().background.green() > tokens.first().background.red());
      QVERIFY(tokens.last().background.red() > tokens.last().background.green());
    }

    // Hovering a token shows its values.
    QTextBrowser* tokens = view->column(1)->tokenView();
    const Fragment second = fragments(tokens->document())[1];
    QTextCursor cursor(tokens->document());
    cursor.setPosition(second.position + 1);
    const QPoint at = tokens->cursorRect(cursor).center();
    QHelpEvent hover(QEvent::ToolTip, at, tokens->viewport()->mapToGlobal(at));
    QApplication::sendEvent(tokens->viewport(), &hover);
    QTRY_VERIFY(QToolTip::isVisible());
    QVERIFY2(QToolTip::text().contains(QStringLiteral("log p %1").arg(expected[1].logprobs[1], 0, 'f', 3)),
             qPrintable(QToolTip::text()));
    QToolTip::hideText();

    // Coloured by advantage: every token of a completion takes its advantage's colour.
    page.colouringPicker()->setCurrentIndex(
        page.colouringPicker()->findData(int(r1::ui::TokenColouring::Advantage)));
    QCOMPARE(view->columnCount(), kGroup);
    for (int g = 0; g < kGroup; ++g)
      for (const Fragment& f : fragments(view->column(g)->tokenView()->document())) {
        if (expected[g].advantage > 0) QVERIFY(f.background.green() > f.background.red());
        if (expected[g].advantage < 0) QVERIFY(f.background.red() > f.background.green());
      }

    // Another step lists its own prompts and shows its first group.
    page.stepList()->setCurrentIndex(page.stepModel()->index(1));
    QCOMPARE(page.stepNumber(), qint64(2));
    QCOMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{0, 1}));
    QCOMPARE(view->column(0)->answerView()->toPlainText(), QStringLiteral("answer 0.0"));
  }

  void filtersAndSearchNarrowThePrompts() {
    TracesPage page(store_path_);
    const auto outcome = [&](r1::app::PromptFilter::Outcome o) {
      page.outcomeFilter()->setCurrentIndex(page.outcomeFilter()->findData(int(o)));
    };
    outcome(r1::app::PromptFilter::Outcome::SomeCorrect);
    QCOMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{0, 1, 3}));
    outcome(r1::app::PromptFilter::Outcome::NoneCorrect);
    QCOMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{2}));
    QCOMPARE(page.completionView()->column(0)->answerView()->toPlainText(), QStringLiteral("answer 2.0"));
    outcome(r1::app::PromptFilter::Outcome::Any);
    page.zeroSpreadFilter()->setChecked(true);
    QCOMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{0, 2}));
    page.zeroSpreadFilter()->setChecked(false);
    // The search waits for a pause in typing; a word of one completion's thought finds its prompt.
    QTest::keyClicks(page.searchBox(), QStringLiteral("eight is"));
    QTRY_COMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{3}));
    page.searchBox()->setText(QStringLiteral("50%"));
    QTRY_COMPARE(listed_prompts(page.promptModel()), (QVector<qint64>{2}));
    page.searchBox()->setText(QStringLiteral("no such text"));
    QTRY_COMPARE(page.promptModel()->rowCount(), 0);
    QCOMPARE(page.completionView()->columnCount(), 0);
  }

  void tokenizerNamesTheTokens() {
    const QString model = QStringLiteral(R1WB_SOURCE_DIR "/resources/models/r1-tiny");
    const auto tokenizer = r1::Tokenizer::load(model.toStdString());
    const std::vector<int32_t> ids = tokenizer->encode("3 + 4 = 7");
    QVERIFY(ids.size() >= 3);
    r1::test::TempDir dir;
    const QString path = qpath(dir / "runs.sqlite");
    {
      RunStore store(path);
      const qint64 run = store.createRun(QStringLiteral("grpo"), QStringLiteral("/models/gone"), {});
      RolloutEntry r = group(0, kStep1[0])[0];
      r.tokens = QVector<qint32>(ids.begin(), ids.end());
      r.logprobs = QVector<float>(r.tokens.size(), -0.5f);
      store.recordStep(run, 1, {}, {r});
    }
    TracesPage page(path);
    QCOMPARE(fragments(page.completionView()->column(0)->tokenView()->document()).first().text,
             QStringLiteral("#%1").arg(ids[0]));
    page.setModelDir(model);
    QVERIFY(page.tokenText().hasTokenizer());
    QVERIFY2(page.statusText().contains(QStringLiteral("r1-tiny")), qPrintable(page.statusText()));
    const auto tokens = fragments(page.completionView()->column(0)->tokenView()->document());
    QCOMPARE(int(tokens.size()), int(ids.size()));
    QString joined;
    for (int k = 0; k < tokens.size(); ++k) {
      const QString text = QString::fromStdString(tokenizer->decode(std::vector<int32_t>{ids[size_t(k)]}));
      QCOMPARE(tokens[k].text, text);
      QVERIFY2(tokens[k].tooltip.contains(text), qPrintable(tokens[k].tooltip));
      joined += tokens[k].text;
    }
    QCOMPARE(joined, QStringLiteral("3 + 4 = 7"));
  }

  void opensAChatReply() {
    TracesPage page(store_path_);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    r1::ui::ChatReplyPicker* picker = page.chatReplyPicker();
    QCOMPARE(picker->conversationPicker()->count(), 1);
    picker->conversationPicker()->setFocus();
    QTest::keyClick(picker->conversationPicker(), Qt::Key_Down);  // the conversation's only reply opens
    QCOMPARE(picker->replyPicker()->count(), 1);
    const r1::ui::CompletionView* view = page.completionView();
    QCOMPARE(view->columnCount(), 1);
    QVERIFY2(view->titleLabel()->text().contains(QStringLiteral("What is 6 * 7?")),
             qPrintable(view->titleLabel()->text()));
    QCOMPARE(view->column(0)->thinkingView()->toPlainText(), QStringLiteral("Six sevens are forty-two."));
    QCOMPARE(view->column(0)->answerView()->toPlainText(), QStringLiteral("42"));
    QVERIFY(!view->column(0)->tokenView()->isVisible());  // a chat reply keeps no per-token data
    // Back to the training prompts: the first prompt's group again.
    page.promptTable()->setCurrentIndex(page.promptModel()->index(0, PromptTableModel::PromptColumn));
    QCOMPARE(view->columnCount(), kGroup);
    QVERIFY(view->column(0)->tokenView()->isVisible());
  }

  void refreshSeesWhatARunWroteSince() {
    r1::test::TempDir dir;
    const QString path = qpath(dir / "runs.sqlite");
    RunStore writer(path);  // a training run's own connection
    const qint64 run = writer.createRun(QStringLiteral("grpo"), {}, {});
    writer.recordStep(run, 1, {}, step_rollouts({kStep1[0]}));
    writer.recordStep(run, 2, {}, step_rollouts({kStep1[1], kStep1[2]}));
    TracesPage page(path);
    page.stepList()->setCurrentIndex(page.stepModel()->index(1));
    QCOMPARE(page.stepNumber(), qint64(2));
    writer.recordStep(run, 3, {}, step_rollouts(kStep1));
    const qint64 next = writer.createRun(QStringLiteral("grpo"), {}, {});
    writer.recordStep(next, 1, {}, step_rollouts({kStep1[3]}));
    page.refresh();
    QCOMPARE(page.runId(), run);  // what was shown stays shown
    QCOMPARE(page.stepModel()->rowCount(), 3);
    QCOMPARE(page.stepNumber(), qint64(2));
    QCOMPARE(page.runPicker()->count(), 2);
    page.showRun(next);
    QCOMPARE(page.runId(), next);
    QCOMPARE(listed_prompts(page.promptModel()), QVector<qint64>{0});
    QCOMPARE(page.completionView()->column(0)->answerView()->toPlainText(), QStringLiteral("answer 0.0"));
  }

  void aStoreThatCannotOpenIsReported() {
    const QString path = QStringLiteral("/proc/r1wb-no-such/runs.sqlite");
    TracesPage page(path);
    QVERIFY2(page.statusText().contains(path), qPrintable(page.statusText()));
    QCOMPARE(page.runPicker()->count(), 0);
    QCOMPARE(page.stepModel()->rowCount(), 0);
    QCOMPARE(page.promptModel()->rowCount(), 0);
    page.refresh();  // still usable
    page.setStorePath(store_path_);
    QCOMPARE(page.runId(), run_);
    QCOMPARE(page.promptModel()->rowCount(), int(kStep1.size()));
  }

  void readsALargeStoreAPageAtATime() {
    // 100 000 rollouts: a first step of 10 000 prompts, then 300 steps of 50, four completions each.
    r1::test::TempDir dir;
    const QString path = qpath(dir / "runs.sqlite");
    constexpr int kBigPrompts = 10000, kSmallSteps = 300, kSmallPrompts = 50;
    {
      RunStore store(path);
      const qint64 run = store.createRun(QStringLiteral("grpo"), {}, {});
      const auto write = [&](qint64 step, int prompts) {
        QVector<RolloutEntry> rollouts;
        rollouts.reserve(prompts * kGroup);
        for (int p = 0; p < prompts; ++p) {
          Prompt made = kStep1[p % kStep1.size()];
          made.text = QStringLiteral("prompt %1 of step %2").arg(p).arg(step);
          rollouts += group(p, made);
        }
        store.recordStep(run, step, {}, rollouts);
      };
      write(1, kBigPrompts);
      for (int s = 0; s < kSmallSteps; ++s) write(2 + s, kSmallPrompts);
    }
    TracesPage page(path);
    page.resize(1400, 900);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    StepListModel* steps = page.stepModel();
    QCOMPARE(steps->totalCount(), 1 + kSmallSteps);
    QCOMPARE(steps->rowCount(), StepListModel::kPageSize);
    QVERIFY(steps->canFetchMore({}));
    PromptTableModel* prompts = page.promptModel();
    QCOMPARE(prompts->totalCount(), kBigPrompts);
    QCOMPARE(prompts->rowCount(), PromptTableModel::kPageSize);
    QVERIFY(prompts->canFetchMore({}));
    QCOMPARE(prompts->promptAt(PromptTableModel::kPageSize - 1)->prompt_index,
             qint64(PromptTableModel::kPageSize - 1));

    prompts->fetchMore({});
    QCOMPARE(prompts->rowCount(), 2 * PromptTableModel::kPageSize);
    QCOMPARE(prompts->promptAt(2 * PromptTableModel::kPageSize - 1)->prompt,
             QStringLiteral("prompt %1 of step 1").arg(2 * PromptTableModel::kPageSize - 1));
    steps->fetchMore({});
    QCOMPARE(steps->rowCount(), 1 + kSmallSteps);
    QVERIFY(!steps->canFetchMore({}));
    // Scrolling to the end of the table asks for the next page.
    page.promptTable()->scrollToBottom();
    QTRY_VERIFY(prompts->rowCount() > 2 * PromptTableModel::kPageSize);
    QVERIFY(prompts->rowCount() < kBigPrompts);
    // A search reaches past the loaded pages.
    page.searchBox()->setText(QStringLiteral("prompt 9999 of"));
    page.applyFilter();
    QCOMPARE(listed_prompts(prompts), QVector<qint64>{9999});
    QCOMPARE(page.completionView()->columnCount(), kGroup);
  }
};

QTEST_MAIN(TestTracesPage)
#include "tst_traces_page.moc"
