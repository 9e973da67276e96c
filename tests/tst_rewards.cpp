// GRPO rewards and tasks: every verifier on right, wrong and malformed answers; the exact expression
// evaluator; the reward spec; generated problems that are deterministic, solvable and kept apart from the
// held-out set; and the JSONL problem reader's errors.
#include <nlohmann/json.hpp>
#include <set>

#include "engine/core/error.h"
#include "engine/grpo/rewards.h"
#include "engine/grpo/tasks.h"
#include "grpo_problems.h"
#include "testlib/test_support.h"

using namespace r1;
using r1::test::countdown_problem;
using json = nlohmann::json;

namespace {

Problem with_answer(const std::string& answer, const std::string& task = "") {
  Problem p;
  p.prompt = "question";
  p.answer = answer;
  if (!task.empty()) p.meta["task"] = task;
  return p;
}

Completion done(const std::string& text) {
  return Completion::from_text(text);
}

}  // namespace

class TestRewards : public QObject {
  Q_OBJECT

 private slots:
  void splits_completion_at_first_close_tag() {
    const Completion a = Completion::from_text("<think>\n step one </think>\n\n42 </think> x", true, 17);
    QCOMPARE(a.thinking, std::string("step one"));
    QCOMPARE(a.answer, std::string("42 </think> x"));
    QVERIFY(a.truncated);
    QCOMPARE(a.tokens, int64_t(17));
    const Completion b = done("  no thought at all ");
    QCOMPARE(b.thinking, std::string());
    QCOMPARE(b.answer, std::string("no thought at all"));
    const Completion c = done("opened by the prompt</think>yes");
    QCOMPARE(c.thinking, std::string("opened by the prompt"));
    QCOMPARE(c.answer, std::string("yes"));
  }

  void evaluates_expressions_exactly_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("parses");
    QTest::addColumn<bool>("defined");
    QTest::addColumn<qint64>("numerator");
    QTest::addColumn<qint64>("denominator");
    QTest::addColumn<QString>("numbers");

    QTest::newRow("precedence") << "2 + 3 * 4" << true << true << 14ll << 1ll << "2,3,4";
    QTest::newRow("left associative") << "20 - 5 - 3" << true << true << 12ll << 1ll << "20,5,3";
    QTest::newRow("division is exact") << "8 / 3 * 3" << true << true << 8ll << 1ll << "8,3,3";
    QTest::newRow("fraction result") << "1 / 3 + 1 / 6" << true << true << 1ll << 2ll << "1,3,1,6";
    QTest::newRow("parentheses") << "(19 + 36) * (7 - 5)" << true << true << 110ll << 1ll << "19,36,7,5";
    QTest::newRow("unary minus") << "-(3 - 10) * -2" << true << true << -14ll << 1ll << "3,10,2";
    QTest::newRow("negative divisor") << "3 / -6" << true << true << -1ll << 2ll << "3,6";
    QTest::newRow("division by zero") << "5 / (3 - 3)" << true << false << 0ll << 1ll << "5,3,3";
    QTest::newRow("huge literal") << "1234567890123456789 + 1" << true << false << 0ll << 1ll << "1";
    QTest::newRow("overflow") << "999999999999999 * 999999999999999" << true << false << 0ll << 1ll
                              << "999999999999999,999999999999999";
    QTest::newRow("empty") << "" << false << false << 0ll << 1ll << "";
    QTest::newRow("letters") << "3 x 4" << false << false << 0ll << 1ll << "";
    QTest::newRow("decimal point") << "1.5 * 2" << false << false << 0ll << 1ll << "";
    QTest::newRow("missing operand") << "3 + * 4" << false << false << 0ll << 1ll << "";
    QTest::newRow("unclosed") << "(3 + 4" << false << false << 0ll << 1ll << "";
    QTest::newRow("extra close") << "3 + 4)" << false << false << 0ll << 1ll << "";
    QTest::newRow("implicit product") << "2(3 + 4)" << false << false << 0ll << 1ll << "";
    QTest::newRow("unary plus") << "+3" << false << false << 0ll << 1ll << "";
    QTest::newRow("too deep") << QString(150, '(') + "1" + QString(150, ')') << false << false << 0ll << 1ll
                              << "";
  }

  void evaluates_expressions_exactly() {
    QFETCH(QString, text);
    QFETCH(bool, parses);
    QFETCH(bool, defined);
    QFETCH(qint64, numerator);
    QFETCH(qint64, denominator);
    QFETCH(QString, numbers);
    const auto v = evaluate_expression(text.toStdString());
    QCOMPARE(v.has_value(), parses);
    if (!parses) return;
    QCOMPARE(v->defined, defined);
    QStringList seen;
    for (const int64_t n : v->numbers) seen << QString::number(n);
    QCOMPARE(seen.join(","), numbers);
    if (!defined) return;
    QCOMPARE(qint64(v->numerator), numerator);
    QCOMPARE(qint64(v->denominator), denominator);
  }

  void scores_countdown_data() {
    QTest::addColumn<QString>("completion");
    QTest::addColumn<double>("reward");

    QTest::newRow("right") << "<think>try</think><answer>55 + (36 - 19 - 7)</answer>" << 1.0;
    QTest::newRow("right, fewer numbers") << "<think>t</think><answer>55 + 19 - 9</answer>" << 1.0;
    QTest::newRow("right with = target") << "<think>t</think><answer>36 + 55 - 19 - 7 = 65</answer>" << 1.0;
    QTest::newRow("target = expression") << "<think>t</think><answer>65 = 36 + 55 - 19 - 7</answer>" << 1.0;
    QTest::newRow("wrong claimed result") << "<think>t</think><answer>36 + 55 - 19 - 7 = 66</answer>" << 0.1;
    QTest::newRow("wrong value") << "<think>t</think><answer>36 + 55 + 19 - 7</answer>" << 0.1;
    QTest::newRow("number not given") << "<think>t</think><answer>60 + 5</answer>" << 0.1;
    QTest::newRow("number reused") << "<think>t</think><answer>36 + 36 - 7</answer>" << 0.1;
    QTest::newRow("last tag counts") << "<think>t</think><answer>1+1</answer> <answer>36+55-19-7</answer>"
                                     << 1.0;
    QTest::newRow("no tags: last line") << "<think>t</think>Let me see.\n36 + 55 - 19 - 7\n" << 1.0;
    QTest::newRow("no tags: prose last line") << "<think>t</think>36 + 55 - 19 - 7 is it" << 0.0;
    QTest::newRow("answer only in thought") << "<think><answer>36+55-19-7</answer></think>I am done" << 0.0;
    QTest::newRow("no think tags at all") << "<answer>36 + 55 - 19 - 7</answer>" << 1.0;
    QTest::newRow("two equals") << "<think>t</think><answer>36 + 55 - 19 - 7 = 65 = 65</answer>" << 0.0;
    QTest::newRow("equation of two expressions")
        << "<think>t</think><answer>36 + 55 = 19 + 72</answer>" << 0.1;
    QTest::newRow("unparseable") << "<think>t</think><answer>36 plus 55</answer>" << 0.0;
    QTest::newRow("unicode times") << "<think>t</think><answer>7 × 9</answer>" << 0.0;
    QTest::newRow("empty tag") << "<think>t</think><answer> </answer>" << 0.0;
    QTest::newRow("empty") << "" << 0.0;
    QTest::newRow("division by zero") << "<think>t</think><answer>65 / (7 - 7)</answer>" << 0.1;
    QTest::newRow("truncated tag") << "<think>t</think><answer>36 + 55 - 19 - 7" << 0.0;
  }

  void scores_countdown() {
    QFETCH(QString, completion);
    QFETCH(double, reward);
    const Problem p = countdown_problem({19, 36, 55, 7, 9}, 65);
    QCOMPARE(countdown_reward(p, done(completion.toStdString())), reward);
  }

  void countdown_division_uses_fractions() {
    // 24 from 3, 3, 8, 8 needs the fraction 8/3 on the way, which integer division would make 2.
    const Problem p = countdown_problem({3, 3, 8, 8}, 24);
    QCOMPARE(countdown_reward(p, done("</think><answer>8 / (3 - 8 / 3)</answer>")), 1.0);
    QCOMPARE(countdown_reward(countdown_problem({7, 2, 4}, 14), done("</think><answer>7 / 2 * 4</answer>")),
             1.0);
    QCOMPARE(countdown_reward(p, done("</think><answer>(8 + 8) / 3 * 3</answer>")), 0.1);
    // A fractional result is never the target.
    QCOMPARE(countdown_reward(countdown_problem({7, 2}, 3), done("</think><answer>7 / 2</answer>")), 0.1);
  }

  void countdown_target_falls_back_to_answer() {
    Problem p = countdown_problem({2, 3}, 5);
    p.meta.erase("target");
    QCOMPARE(countdown_reward(p, done("</think><answer>2 + 3</answer>")), 1.0);
    p.answer = "five";
    R1_EXPECT_ERROR(countdown_reward(p, done("</think>2 + 3")), "target", "five");
    p.meta.erase("numbers");
    R1_EXPECT_ERROR(countdown_reward(p, done("</think>2 + 3")), "numbers", "missing");
  }

  void scores_arithmetic_data() {
    QTest::addColumn<QString>("answer");
    QTest::addColumn<QString>("completion");
    QTest::addColumn<double>("reward");

    QTest::newRow("right") << "9396"
                           << "<think>348*27</think><answer>9396</answer>" << 1.0;
    QTest::newRow("wrong") << "9396"
                           << "<think>x</think><answer>9386</answer>" << 0.0;
    QTest::newRow("final integer of the answer") << "9396"
                                                 << "</think>348 * 27 = 9396" << 1.0;
    QTest::newRow("intermediate is not final") << "9396"
                                               << "</think>9396, or maybe 9400" << 0.0;
    QTest::newRow("tag beats later text") << "42"
                                          << "</think><answer>42</answer> I am 100% sure" << 1.0;
    QTest::newRow("negative") << "-1095"
                              << "</think><answer>-1095</answer>" << 1.0;
    QTest::newRow("minus of a subtraction") << "1095"
                                            << "</think>2000-1095" << 1.0;
    QTest::newRow("sign matters") << "1095"
                                  << "</think>The result is -1095" << 0.0;
    QTest::newRow("thousands separators") << "1234567"
                                          << "</think><answer>1,234,567</answer>" << 1.0;
    QTest::newRow("trailing .0") << "42"
                                 << "</think><answer>42.0</answer>" << 1.0;
    QTest::newRow("fraction is not the integer") << "42"
                                                 << "</think><answer>42.5</answer>" << 0.0;
    QTest::newRow("leading zeros") << "7"
                                   << "</think><answer>007</answer>" << 1.0;
    QTest::newRow("no integer") << "7"
                                << "</think><answer>seven</answer>" << 0.0;
    QTest::newRow("only in thought") << "7"
                                     << "<think>7</think>done" << 0.0;
  }

  void scores_arithmetic() {
    QFETCH(QString, answer);
    QFETCH(QString, completion);
    QFETCH(double, reward);
    QCOMPARE(arithmetic_reward(with_answer(answer.toStdString()), done(completion.toStdString())), reward);
  }

  void arithmetic_needs_an_integer_reference() {
    R1_EXPECT_ERROR(arithmetic_reward(with_answer("forty"), done("</think>40")), "arithmetic", "forty");
  }

  void scores_math_data() {
    QTest::addColumn<QString>("answer");
    QTest::addColumn<QString>("completion");
    QTest::addColumn<double>("reward");

    QTest::newRow("boxed") << "72"
                           << "<think>x</think>So \\boxed{72}." << 1.0;
    QTest::newRow("boxed wrong") << "72"
                                 << "</think>\\boxed{71}" << 0.0;
    QTest::newRow("nested braces") << "\\frac{1}{2}"
                                   << "</think>\\boxed{\\frac{1}{2}}" << 1.0;
    QTest::newRow("nested braces, wrong") << "\\frac{1}{2}"
                                          << "</think>\\boxed{\\frac{1}{3}}" << 0.0;
    QTest::newRow("last boxed") << "5"
                                << "</think>\\boxed{3} no, \\boxed{5}" << 1.0;
    QTest::newRow("unbalanced boxed") << "5"
                                      << "</think>\\boxed{5" << 0.0;
    QTest::newRow("gsm8k form") << "1234"
                                << "</think>Total cost.\n#### 1,234\n"
                                << 1.0;
    QTest::newRow("gsm8k reference") << "She pays 3 * 4 = 12.\n#### 12"
                                     << "</think>\\boxed{12}" << 1.0;
    QTest::newRow("dollar sign") << "5"
                                 << "</think>#### $5" << 1.0;
    QTest::newRow("trailing .0") << "18"
                                 << "</think>\\boxed{18.00}" << 1.0;
    QTest::newRow("numeric compare") << "0.5"
                                     << "</think>\\boxed{.50}" << 1.0;
    QTest::newRow("fraction vs decimal") << "3/4"
                                         << "</think>\\boxed{0.75}" << 1.0;
    QTest::newRow("spaces ignored") << "x+1"
                                    << "</think>\\boxed{ x + 1 }" << 1.0;
    QTest::newRow("answer tag fallback") << "9"
                                         << "</think><answer>9</answer>" << 1.0;
    QTest::newRow("no answer form") << "9"
                                    << "</think>the answer is 9" << 0.0;
    QTest::newRow("empty box") << "9"
                               << "</think>\\boxed{}" << 0.0;
    QTest::newRow("only in thought") << "9"
                                     << "<think>\\boxed{9}</think>hmm" << 0.0;
  }

  void scores_math() {
    QFETCH(QString, answer);
    QFETCH(QString, completion);
    QFETCH(double, reward);
    QCOMPARE(math_reward(with_answer(answer.toStdString()), done(completion.toStdString())), reward);
  }

  void scores_format_data() {
    QTest::addColumn<QString>("completion");
    QTest::addColumn<bool>("truncated");
    QTest::addColumn<double>("reward");

    QTest::newRow("think then answer") << "<think>\nreason\n</think>\n\nanswer" << false << 1.0;
    QTest::newRow("prompt opened the thought") << "reason</think>answer" << false << 1.0;
    QTest::newRow("empty answer") << "<think>reason</think>\n  " << false << 0.0;
    QTest::newRow("no close tag") << "<think>reason and answer" << false << 0.0;
    QTest::newRow("no tags") << "just an answer" << false << 0.0;
    QTest::newRow("two close tags") << "<think>a</think>b</think>c" << false << 0.0;
    QTest::newRow("two open tags") << "<think>a<think>b</think>c" << false << 0.0;
    QTest::newRow("open tag not first") << "hi <think>a</think>c" << false << 0.0;
    QTest::newRow("truncated") << "<think>a</think>the answer is" << true << 0.0;
  }

  void scores_format() {
    QFETCH(QString, completion);
    QFETCH(bool, truncated);
    QFETCH(double, reward);
    const Completion c = Completion::from_text(completion.toStdString(), truncated, 10);
    QCOMPARE(format_reward(c), reward);
    QCOMPARE(well_formatted(c), reward == 1.0);
  }

  void penalises_overlong_completions() {
    QCOMPARE(overlong_penalty(0, 100, 20), 0.0);
    QCOMPARE(overlong_penalty(80, 100, 20), 0.0);
    QCOMPARE(overlong_penalty(90, 100, 20), -0.5);
    QCOMPARE(overlong_penalty(100, 100, 20), -1.0);
    QCOMPARE(overlong_penalty(130, 100, 20), -1.0);
    R1_EXPECT_ERROR(overlong_penalty(10, 100, 0), "cache", "1..100");
    R1_EXPECT_ERROR(overlong_penalty(10, 100, 101), "cache");
    R1_EXPECT_ERROR(overlong_penalty(10, 0, 1), "max_tokens");
  }

  void judges_correctness_by_task() {
    const Problem cd = countdown_problem({2, 3}, 6);
    QVERIFY(is_correct(cd, done("</think><answer>2 * 3</answer>")));
    QVERIFY(!is_correct(cd, done("</think><answer>2 + 3</answer>")));  // 0.1 is not correct
    QVERIFY(is_correct(with_answer("12", "arithmetic"), done("</think><answer>12</answer>")));
    QVERIFY(!is_correct(with_answer("12", "arithmetic"), done("</think><answer>13</answer>")));
    QVERIFY(is_correct(with_answer("12"), done("</think>\\boxed{12}")));
    QVERIFY(!is_correct(with_answer("12"), done("</think><answer>12 apples</answer>")));
  }

  void parses_reward_specs() {
    const RewardSet set = RewardSet::parse(" countdown:1.0 , format:0.2,length:0.5", {.max_tokens = 100});
    QCOMPARE(set.functions().size(), size_t(3));
    QCOMPARE(set.functions()[1].name, std::string("format"));
    QCOMPARE(set.functions()[1].weight, 0.2);
    QCOMPARE(set.spec(), std::string("countdown:1,format:0.2,length:0.5"));
    QCOMPARE(RewardSet::parse(set.spec(), {.max_tokens = 100}).spec(), set.spec());

    // A right answer, well formatted, at 90 of 100 tokens (the ramp starts at 80: -0.5).
    const Completion c =
        Completion::from_text("<think>t</think><answer>36 + 55 - 19 - 7</answer>", false, 90);
    const RewardScore s = set.score(countdown_problem({19, 36, 55, 7}, 65), c);
    QCOMPARE(s.values.size(), size_t(3));
    QCOMPARE(s.values[0], std::make_pair(std::string("countdown"), 1.0));
    QCOMPARE(s.values[1], std::make_pair(std::string("format"), 1.0));
    QCOMPARE(s.values[2], std::make_pair(std::string("length"), -0.5));
    QCOMPARE(s.total, 1.0 + 0.2 - 0.25);

    QCOMPARE(RewardSet::parse("accuracy").functions()[0].weight, 1.0);
    const RewardSet defaults = RewardSet::parse(default_reward_spec(TaskKind::Arithmetic));
    QCOMPARE(defaults.score(with_answer("4"), done("<think>2+2</think><answer>4</answer>")).total, 1.2);
  }

  void rejects_bad_reward_specs() {
    R1_EXPECT_ERROR(RewardSet::parse(""), "empty", "countdown, arithmetic, math, accuracy, format, length");
    R1_EXPECT_ERROR(RewardSet::parse("countdown:1,bogus:2"), "unknown reward \"bogus\"",
                    "countdown, arithmetic, math, accuracy, format, length");
    R1_EXPECT_ERROR(RewardSet::parse("format:abc"), "format:abc", "weight \"abc\"");
    R1_EXPECT_ERROR(RewardSet::parse("format:1x"), "weight \"1x\"");
    R1_EXPECT_ERROR(RewardSet::parse("format:"), "weight \"\"");
    R1_EXPECT_ERROR(RewardSet::parse("format:1,,countdown"), "item 2 is empty");
    R1_EXPECT_ERROR(RewardSet::parse("format,format:2"), "\"format\" is given twice");
    R1_EXPECT_ERROR(RewardSet::parse("length:1"), "length", "max_tokens");
    R1_EXPECT_ERROR(RewardSet::parse("length:1", {.max_tokens = 100, .overlong_cache = 200}), "cache", "200");
  }

  void parses_task_names() {
    QVERIFY(parse_task("countdown") == TaskKind::Countdown);
    QVERIFY(parse_task("arithmetic") == TaskKind::Arithmetic);
    R1_EXPECT_ERROR(parse_task("gsm8k"), "\"gsm8k\"", "countdown, arithmetic");
    R1_EXPECT_ERROR(TaskConfig::preset("countdown", "insane"), "\"insane\"", "easy, easy200, medium, default, hard");
    const TaskConfig hard = TaskConfig::preset("arithmetic", "hard");
    QCOMPARE(hard.arithmetic.digits, int64_t(4));
    const TaskConfig back = TaskConfig::from_json(hard.to_json(), "config.json");
    QCOMPARE(back.to_json(), hard.to_json());
    R1_EXPECT_ERROR(TaskConfig::from_json(json{{"task", "countdown"}, {"max_numbers", 9}}, "config.json"),
                    "config.json", "max_numbers", "9");
    R1_EXPECT_ERROR(TaskConfig::from_json(json{{"task", "arithmetic"}, {"digits", 9}, {"operands", 3}}, "c"),
                    "operands", "64 bits");
    R1_EXPECT_ERROR(TaskConfig::from_json(json{{"task", "arithmetic"}, {"operators", "+/"}}, "c"),
                    "operators");
    R1_EXPECT_ERROR(TaskConfig::from_json(json{{"task", "sudoku"}}, "c.json"), "c.json", "task", "sudoku");
    R1_EXPECT_ERROR(TaskConfig::from_json(json{{"task", "countdown"}, {"digits", 3}}, "c.json"), "c.json",
                    "\"digits\" is not a setting of the countdown task", "max_target");
  }

  void generation_is_deterministic() {
    for (const char* name : {"countdown", "arithmetic"}) {
      const TaskConfig task = TaskConfig::preset(name);
      const auto a = make_problems(task, 50, 7), b = make_problems(task, 50, 7),
                 c = make_problems(task, 50, 8);
      int differing = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        QCOMPARE(a[i].prompt, b[i].prompt);
        QCOMPARE(a[i].answer, b[i].answer);
        differing += a[i].prompt != c[i].prompt;
      }
      QVERIFY2(differing > 40, name);
      // Problem i depends only on (seed, i): a resumed run asks for the stream from its position.
      const auto tail = make_problems(task, 10, 7, 40);
      for (size_t i = 0; i < tail.size(); ++i) QCOMPARE(tail[i].prompt, a[40 + i].prompt);
    }
  }

  void generation_is_the_same_everywhere() {
    // Pinned so that a change to the generator or the PRNG, or a platform difference, shows up here.
    const Problem cd = training_problem(TaskConfig::preset("countdown"), 1, 0);
    QCOMPARE(
        cd.prompt,
        std::string(
            "Using the numbers [55, 2, 26, 41], create an equation that equals 6. You can use +, -, *, / "
            "and parentheses, and each number at most once. Show your reasoning in <think> "
            "</think> and give only the equation in <answer> </answer>, for example <answer>(1 + "
            "2) / 3</answer>."));
    QCOMPARE(cd.meta["solution"], json("((26 + 41) - 55) / 2"));
    const Problem ar = training_problem(TaskConfig::preset("arithmetic"), 1, 0);
    QCOMPARE(ar.answer, std::string("1291"));
    QCOMPARE(ar.prompt,
             std::string("Compute 944 + 347. Show your reasoning in <think> </think> and give only the "
                         "final integer in <answer> </answer>."));
  }

  void generated_countdown_problems_are_solvable_data() {
    QTest::addColumn<QString>("difficulty");
    for (const std::string& d : difficulty_names()) QTest::newRow(d.c_str()) << QString::fromStdString(d);
  }

  void generated_countdown_problems_are_solvable() {
    QFETCH(QString, difficulty);
    const TaskConfig task = TaskConfig::preset("countdown", difficulty.toStdString());
    const CountdownDifficulty& d = task.countdown;
    std::set<size_t> counts;
    for (const Problem& p : make_problems(task, 2000, 3)) {
      const CountdownSpec spec = countdown_spec(p);
      counts.insert(spec.numbers.size());
      QVERIFY(int64_t(spec.numbers.size()) >= d.min_numbers && int64_t(spec.numbers.size()) <= d.max_numbers);
      for (const int64_t n : spec.numbers) QVERIFY(n >= 1 && n <= d.max_number);
      QVERIFY2(spec.target >= 1 && spec.target <= d.max_target, p.prompt.c_str());
      QCOMPARE(p.answer, std::to_string(spec.target));
      QVERIFY(p.prompt.find(cat("equals ", spec.target, ".")) != std::string::npos);
      const std::string solution = p.meta["solution"].get<std::string>();
      const Completion c = done("<think>search</think><answer>" + solution + "</answer>");
      QVERIFY2(countdown_reward(p, c) == 1.0, (p.prompt + " / " + solution).c_str());
    }
    QCOMPARE(int64_t(counts.size()), d.max_numbers - d.min_numbers + 1);
  }

  void generated_arithmetic_is_right_data() { generated_countdown_problems_are_solvable_data(); }

  void generated_arithmetic_is_right() {
    QFETCH(QString, difficulty);
    const TaskConfig task = TaskConfig::preset("arithmetic", difficulty.toStdString());
    std::set<char> operators;
    for (const Problem& p : make_problems(task, 2000, 3)) {
      const std::string expression = p.meta["expression"].get<std::string>();
      const auto v = evaluate_expression(expression);
      QVERIFY(v && v->defined && v->denominator == 1);
      QCOMPARE(p.answer, std::to_string(v->numerator));
      QCOMPARE(int64_t(v->numbers.size()), task.arithmetic.operands);
      for (const int64_t n : v->numbers) QCOMPARE(int64_t(std::to_string(n).size()), task.arithmetic.digits);
      for (const char c : expression)
        if (c == '+' || c == '-' || c == '*') operators.insert(c);
      QCOMPARE(arithmetic_reward(p, done("</think><answer>" + p.answer + "</answer>")), 1.0);
    }
    QCOMPARE(operators.size(), task.arithmetic.operators.size());
  }

  void heldout_is_disjoint_from_training_data() { generated_countdown_problems_are_solvable_data(); }

  void heldout_is_disjoint_from_training() {
    QFETCH(QString, difficulty);
    for (const char* name : {"countdown", "arithmetic"}) {
      const TaskConfig task = TaskConfig::preset(name, difficulty.toStdString());
      const auto heldout = heldout_problems(task);
      QCOMPARE(heldout.size(), size_t(500));
      std::set<std::string> keys, prompts;
      for (const Problem& p : heldout) {
        QVERIFY(is_heldout(p));
        keys.insert(problem_key(p));
        prompts.insert(p.prompt);
      }
      QCOMPARE(keys.size(), size_t(500));  // distinct
      const auto again = heldout_problems(task, 20);
      for (size_t i = 0; i < again.size(); ++i) QCOMPARE(again[i].prompt, heldout[i].prompt);
      for (const uint64_t seed : {0ull, 1ull, 42ull}) {
        for (const Problem& p : make_problems(task, 2000, seed)) {
          QVERIFY2(!keys.count(problem_key(p)), p.prompt.c_str());
          QVERIFY2(!prompts.count(p.prompt), p.prompt.c_str());
        }
      }
    }
  }

  void heldout_needs_enough_problems() {
    TaskConfig tiny = TaskConfig::preset("arithmetic");
    tiny.arithmetic = {1, 2, "+"};  // 81 problems, about 5 of them held out
    R1_EXPECT_ERROR(heldout_problems(tiny, 50), "arithmetic", "50", "too few");
  }

  void reads_jsonl_problems() {
    test::TempDir dir;
    test::write_bytes(dir / "p.jsonl",
                      "\xEF\xBB\xBF{\"prompt\": \"What is 6*7?\", \"answer\": \"42\", \"source\": \"gsm\"}\n"
                      "\n"
                      "{\"prompt\": \"Half of 5?\", \"answer\": 2.5}\n"
                      "{\"prompt\": \"Two\", \"answer\": 2}\n");
    const auto problems = read_problems_jsonl(dir / "p.jsonl");
    QCOMPARE(problems.size(), size_t(3));
    QCOMPARE(problems[0].prompt, std::string("What is 6*7?"));
    QCOMPARE(problems[0].answer, std::string("42"));
    QCOMPARE(problems[0].meta["source"], json("gsm"));
    QCOMPARE(problems[1].answer, std::string("2.5"));
    QCOMPARE(problems[2].answer, std::string("2"));
    QVERIFY(is_correct(problems[1], done("</think>\\boxed{2.50}")));
  }

  void reports_jsonl_errors_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("detail");

    const QString good = "{\"prompt\": \"p\", \"answer\": \"a\"}\n";
    QTest::newRow("malformed") << good + "{\"prompt\": \"p\", \"answer\": }\n"
                               << "line 2"
                               << "not valid JSON";
    QTest::newRow("not an object") << good + good + "[1, 2]\n"
                                   << "line 3"
                                   << "expected an object";
    QTest::newRow("missing prompt") << "{\"answer\": \"a\"}\n"
                                    << "line 1"
                                    << "\"prompt\" is missing";
    QTest::newRow("missing answer") << good + "\n{\"prompt\": \"p\"}\n"
                                    << "line 3"
                                    << "\"answer\" is missing";
    QTest::newRow("prompt not a string") << "{\"prompt\": 5, \"answer\": \"a\"}"
                                         << "line 1"
                                         << "\"prompt\"";
    QTest::newRow("empty prompt") << "{\"prompt\": \"\", \"answer\": \"a\"}"
                                  << "line 1"
                                  << "\"prompt\"";
    QTest::newRow("answer a list") << good + "{\"prompt\": \"p\", \"answer\": [1]}"
                                   << "line 2"
                                   << "\"answer\" must be a non-empty string or a number, found [1]";
    QTest::newRow("answer null") << "{\"prompt\": \"p\", \"answer\": null}"
                                 << "line 1"
                                 << "\"answer\"";
    QTest::newRow("empty file") << ""
                                << ""
                                << "the file is empty";
    QTest::newRow("blank lines") << "\n  \n"
                                 << ""
                                 << "only blank lines";
  }

  void reports_jsonl_errors() {
    QFETCH(QString, text);
    QFETCH(QString, line);
    QFETCH(QString, detail);
    test::TempDir dir;
    const auto path = dir / "bad.jsonl";
    test::write_bytes(path, text.toStdString());
    const std::string file = path.string(), l = line.toStdString(), d = detail.toStdString();
    R1_EXPECT_ERROR(read_problems_jsonl(path), file.c_str(), l.c_str(), d.c_str());
  }

  void reports_a_missing_jsonl_file() {
    test::TempDir dir;
    R1_EXPECT_ERROR(read_problems_jsonl(dir / "absent.jsonl"), "absent.jsonl");
  }
};

QTEST_APPLESS_MAIN(TestRewards)
#include "tst_rewards.moc"
