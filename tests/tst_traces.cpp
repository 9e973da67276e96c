// Synthesized reasoning traces: every completion is well formatted and right by the project's own verifiers,
// every step in its thought is true arithmetic, Countdown takes the fewest steps, traces come only from
// training problems and depend only on the seed, and `r1wb synth` writes them as SFT JSONL.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/grpo/rewards.h"
#include "engine/grpo/tasks.h"
#include "engine/grpo/traces.h"
#include "engine/train/sft_data.h"
#include "grpo_problems.h"
#include "testlib/test_support.h"

using namespace r1;
using r1::test::countdown_problem;
using json = nlohmann::json;

namespace {

Problem arithmetic(const std::string& expression, const std::string& answer) {
  Problem p;
  p.prompt = "Compute " + expression;
  p.answer = answer;
  p.meta = {{"task", "arithmetic"}, {"expression", expression}};
  return p;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Empty when every line of the thought is one true operation "a op b=c", a dead end "try a op b=c, ...",
// or the zero-step "N is given"; else the first line that is not.
std::string false_step(const std::string& thinking) {
  static const std::regex step(R"(^(try )?(-?\d+)([-+*/])(\d+)=(-?\d+)(, too big|, dead end)?$)");
  static const std::regex given(R"(^\d+ is given$)");
  for (const std::string& line : lines_of(thinking)) {
    std::smatch m;
    if (std::regex_match(line, given)) continue;
    if (!std::regex_match(line, m, step)) return line;
    const int64_t a = std::stoll(m[2]), b = std::stoll(m[4]), c = std::stoll(m[5]);
    const char op = m[3].str()[0];
    const bool dead_end = m[1].matched;
    if (dead_end != m[6].matched) return line;
    const bool ok = op == '+'   ? a + b == c
                    : op == '-' ? a - b == c
                    : op == '*' ? a * b == c
                                : b != 0 && a % b == 0 && a / b == c;
    if (!ok) return line;
  }
  return {};
}

// The completion budget of the r1-tiny recipe's eval and GRPO, in tokens; a token is at least one byte, so a
// trace of at most this many bytes always fits. Three four-digit operands need more, whatever the wording.
constexpr qint64 kGenerationLimit = 128;

}  // namespace

class TestTraces : public QObject {
  Q_OBJECT

 private slots:
  void every_completion_is_right_data() {
    QTest::addColumn<QString>("task");
    QTest::addColumn<QString>("difficulty");
    QTest::addColumn<qint64>("max_chars");
    for (const char* task : {"countdown", "arithmetic"})
      for (const std::string& difficulty : difficulty_names())
        QTest::newRow(qPrintable(QString("%1 %2").arg(task, difficulty.c_str())))
            << QString(task) << QString::fromStdString(difficulty)
            << qint64(task == std::string("arithmetic") && difficulty == "hard" ? 400 : kGenerationLimit);
  }

  void every_completion_is_right() {
    QFETCH(QString, task);
    QFETCH(QString, difficulty);
    QFETCH(qint64, max_chars);
    const TaskConfig config = TaskConfig::preset(task.toStdString(), difficulty.toStdString());
    constexpr int64_t kProblems = 2000;
    constexpr uint64_t kSeed = 11;
    int64_t skipped = -1;
    const std::vector<json> lines = synthesize_sft(config, kProblems, kSeed, &skipped);
    QCOMPARE(skipped, int64_t(0));
    QCOMPARE(int64_t(lines.size()), kProblems);

    std::set<std::string> heldout;
    for (const Problem& p : heldout_problems(config, 500)) heldout.insert(p.prompt);
    int64_t dead_ends = 0;
    size_t longest = 0;
    for (int64_t i = 0; i < kProblems; ++i) {
      const Problem problem = training_problem(config, kSeed, uint64_t(i));
      const json& line = lines[size_t(i)];
      QCOMPARE(line.size(), size_t(2));
      QCOMPARE(line["prompt"].get<std::string>(), problem.prompt);
      QVERIFY(!is_heldout(problem));
      QVERIFY2(!heldout.contains(problem.prompt), problem.prompt.c_str());

      const std::string text = line["completion"].get<std::string>();
      const Completion c = Completion::from_text(text);
      QVERIFY2(!text.starts_with("<think>"), text.c_str());  // the chat template's prompt opens the thought
      QVERIFY2(format_reward(c) == 1.0, text.c_str());
      const double reward =
          config.kind == TaskKind::Countdown ? countdown_reward(problem, c) : arithmetic_reward(problem, c);
      QVERIFY2(reward == 1.0, (problem.prompt + "\n" + text).c_str());
      QVERIFY2(is_correct(problem, c), text.c_str());
      QVERIFY2(!c.thinking.empty(), text.c_str());
      const std::string wrong = false_step(c.thinking);
      QVERIFY2(wrong.empty(), (wrong + "\nin\n" + text).c_str());
      dead_ends += text.starts_with("try ") ? 1 : 0;
      longest = std::max(longest, text.size());
    }
    if (config.kind == TaskKind::Countdown) {
      // Some thoughts model a search, most go straight to the solution.
      QVERIFY2(dead_ends > kProblems / 10 && dead_ends < kProblems * 2 / 5,
               qPrintable(QString::number(dead_ends)));
    } else {
      QCOMPARE(dead_ends, int64_t(0));
    }
    QVERIFY2(int64_t(longest) <= max_chars, qPrintable(QString::number(longest)));
  }

  void countdown_takes_the_fewest_steps() {
    const auto one = solve_countdown({2, 3, 50}, 53);
    QVERIFY(one);
    QCOMPARE(one->steps.size(), size_t(1));
    QCOMPARE(one->expression, std::string("50+3"));

    const auto two = solve_countdown({19, 36, 7}, 48);
    QVERIFY(two);
    QCOMPARE(two->steps.size(), size_t(2));
    QCOMPARE(two->steps.back().result, int64_t(48));
    const auto value = evaluate_expression(two->expression);
    QVERIFY(value && value->is_integer(48));

    const auto division = solve_countdown({100, 4, 9}, 16);  // 100/4=25, 25-9=16
    QVERIFY(division);
    QCOMPARE(division->steps.size(), size_t(2));
    QCOMPARE(division->expression, std::string("(100/4)-9"));

    const auto given = solve_countdown({5, 9}, 9);
    QVERIFY(given);
    QVERIFY(given->steps.empty());
    const Problem p = countdown_problem({5, 9}, 9);
    QCOMPARE(countdown_reward(p, Completion::from_text(synthesize_completion(p, 0))), 1.0);

    QVERIFY(!solve_countdown({1, 1}, 5));
    R1_EXPECT_ERROR(synthesize_completion(countdown_problem({1, 1}, 5), 0), "no solution",
                    "countdown:1, 1=5");
  }

  void dead_ends_really_are_dead_ends() {
    // 19*7=133 leaves only 36, which cannot make 48 from it; yet the problem is solvable.
    const Problem p = countdown_problem({19, 36, 7}, 48);
    std::set<std::string> openings;
    for (uint64_t seed = 0; seed < 64; ++seed) {
      const std::string text = synthesize_completion(p, seed);
      QCOMPARE(countdown_reward(p, Completion::from_text(text)), 1.0);
      const std::string first = lines_of(text).front();
      if (!first.starts_with("try ")) continue;
      openings.insert(first);
      std::smatch m;
      QVERIFY(std::regex_match(first, m, std::regex(R"(try (\d+)([-+*/])(\d+)=(\d+), .*)")));
      std::vector<int64_t> rest = {19, 36, 7};
      rest.erase(std::find(rest.begin(), rest.end(), std::stoll(m[1])));
      rest.erase(std::find(rest.begin(), rest.end(), std::stoll(m[3])));
      rest.push_back(std::stoll(m[4]));
      QVERIFY2(!solve_countdown(rest, 48), first.c_str());
    }
    QVERIFY(openings.size() > 1);  // the seed picks among the dead ends
  }

  void arithmetic_steps_data() {
    QTest::addColumn<QString>("expression");
    QTest::addColumn<QString>("answer");
    QTest::addColumn<QString>("completion");
    QTest::newRow("partial products")
        << "347 * 56"
        << "19432"
        << "347*6=2082\n347*50=17350\n2082+17350=19432\n</think>\n<answer>19432</answer>";
    QTest::newRow("shorter operand split")
        << "12 * 3456"
        << "41472"
        << "3456*2=6912\n3456*10=34560\n6912+34560=41472\n</think>\n<answer>"
           "41472</answer>";
    QTest::newRow("zero digits skipped")
        << "347 * 502"
        << "174194"
        << "347*2=694\n347*500=173500\n694+173500=174194\n</think>\n<answer>174194</answer>";
    QTest::newRow("one non-zero digit") << "347 * 500"
                                        << "173500"
                                        << "347*500=173500\n</think>\n<answer>173500</answer>";
    QTest::newRow("direct sum") << "47 + 38"
                                << "85"
                                << "47+38=85\n</think>\n<answer>85</answer>";
    QTest::newRow("negative result") << "12 - 345"
                                     << "-333"
                                     << "12-345=-333\n</think>\n<answer>-333</answer>";
    QTest::newRow("precedence") << "12 + 3 * 4 - 5"
                                << "19"
                                << "3*4=12\n12+12=24\n24-5=19\n</think>\n<answer>19</answer>";
  }

  void arithmetic_steps() {
    QFETCH(QString, expression);
    QFETCH(QString, answer);
    QFETCH(QString, completion);
    const Problem p = arithmetic(expression.toStdString(), answer.toStdString());
    const std::string text = synthesize_completion(p, 0);
    QCOMPARE(QString::fromStdString(text), completion);
    QCOMPARE(arithmetic_reward(p, Completion::from_text(text)), 1.0);
  }

  void malformed_problems_are_errors() {
    R1_EXPECT_ERROR(synthesize_completion(arithmetic("347 * 56", "19433"), 0), "the steps give 19432",
                    "19433");
    R1_EXPECT_ERROR(synthesize_completion(arithmetic("(1 + 2) * 3", "9"), 0), "expression", "(1 + 2) * 3");
    Problem no_task = arithmetic("1 + 2", "3");
    no_task.meta.erase("task");
    R1_EXPECT_ERROR(synthesize_completion(no_task, 0), "task");
    R1_EXPECT_ERROR(synthesize_sft(TaskConfig::preset("countdown"), -1, 0), "negative");
  }

  void traces_depend_only_on_the_seed() {
    for (const char* task : {"countdown", "arithmetic"}) {
      const TaskConfig config = TaskConfig::preset(task);
      const std::vector<json> a = synthesize_sft(config, 300, 5), b = synthesize_sft(config, 300, 5),
                              c = synthesize_sft(config, 300, 6);
      QCOMPARE(json(a).dump(), json(b).dump());
      QVERIFY(json(a).dump() != json(c).dump());
    }
  }

  void cli_writes_sft_jsonl() {
    test::TempDir tmp;
    const std::string out = (tmp / "sft.jsonl").string();
    const auto r = test::run_program("r1wb", {"synth", "--task", "countdown", "--difficulty", "easy", "--n",
                                              "40", "--seed", "3", "--out", out});
    QVERIFY2(r.exit_code == 0, r.err.c_str());
    const json summary = json::parse(r.out);
    QCOMPARE(summary["written"].get<int64_t>(), int64_t(40));
    QCOMPARE(summary["skipped"].get<int64_t>(), int64_t(0));

    std::string expected;
    double chars = 0;
    for (const json& line : synthesize_sft(TaskConfig::preset("countdown", "easy"), 40, 3)) {
      expected += line.dump() + "\n";
      chars += double(line["completion"].get<std::string>().size());
    }
    QCOMPARE(read_text_file(out), expected);
    QCOMPARE(summary["mean_completion_chars"].get<double>(), chars / 40);
    const SftDataset data = read_sft_jsonl(out);
    QCOMPARE(data.examples.size(), size_t(40));
    QVERIFY(data.examples[0].completion.find("</think>\n<answer>") != std::string::npos);
  }

  void cli_errors_name_the_option_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("fragment");
    QTest::newRow("no count") << QStringList{"synth", "--task", "countdown", "--out", "x.jsonl"} << "--n";
    QTest::newRow("zero count") << QStringList{"synth", "--task", "countdown", "--n", "0", "--out", "x.jsonl"}
                                << "--n";
    QTest::newRow("unknown task") << QStringList{"synth", "--task", "sudoku", "--n", "5", "--out", "x.jsonl"}
                                  << "unknown task";
    QTest::newRow("unknown difficulty")
        << QStringList{"synth", "--task", "arithmetic", "--difficulty", "extreme",
                       "--n",   "5",      "--out",      "x.jsonl"}
        << "unknown difficulty";
    QTest::newRow("no output") << QStringList{"synth", "--task", "countdown", "--n", "5"} << "--out";
  }

  void cli_errors_name_the_option() {
    QFETCH(QStringList, args);
    QFETCH(QString, fragment);
    test::TempDir tmp;
    std::vector<std::string> a;
    for (const QString& s : args) a.push_back(s == "x.jsonl" ? (tmp / "x.jsonl").string() : s.toStdString());
    const auto r = test::run_program("r1wb", a);
    QVERIFY(r.exit_code != 0);
    QVERIFY2(r.err.find(fragment.toStdString()) != std::string::npos, r.err.c_str());
    QVERIFY(!std::filesystem::exists(tmp / "x.jsonl"));
  }
};

QTEST_APPLESS_MAIN(TestTraces)
#include "tst_traces.moc"
