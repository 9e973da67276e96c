// The streaming reasoning parser, fed piece by piece as a model would produce them: think tags, a prompt that
// already opened the thought, no tags, tags cut between pieces, and a thought cut off when generation stops.
#include "engine/tokenizer/reasoning.h"
#include "testlib/test_support.h"

using namespace r1;

namespace {

struct Run {
  std::string thinking_deltas, answer_deltas;
  ReasoningParser parser;
  explicit Run(bool starts_in_thinking)
      : parser(ReasoningParser::Options{starts_in_thinking, "<think>", "</think>"}) {}
};

// Feeds piece i at time i seconds; finish() (when asked) comes at time pieces.size().
void feed(Run& run, const QStringList& pieces, bool stop) {
  for (qsizetype i = 0; i < pieces.size(); ++i) {
    const auto d = run.parser.push(pieces[i].toStdString(), double(i));
    run.thinking_deltas += d.thinking;
    run.answer_deltas += d.answer;
  }
  if (stop) {
    const auto d = run.parser.finish(double(pieces.size()));
    run.thinking_deltas += d.thinking;
    run.answer_deltas += d.answer;
  }
}

}  // namespace

class TestReasoning : public QObject {
  Q_OBJECT

 private slots:
  void splits_thinking_from_answer_data() {
    QTest::addColumn<QStringList>("pieces");
    QTest::addColumn<bool>("starts_in_thinking");
    QTest::addColumn<bool>("stop");  // generation stops (finish) after the last piece
    QTest::addColumn<QString>("thinking");
    QTest::addColumn<QString>("answer");
    QTest::addColumn<double>("started");  // -1: never
    QTest::addColumn<double>("ended");    // -1: never
    QTest::addColumn<bool>("unfinished");

    QTest::newRow("think tags") << QStringList{"<think>",  "\n",   "Let me",     " think.", "\n",
                                               "</think>", "\n\n", "The answer", " is 4."}
                                << false << true << "Let me think."
                                << "The answer is 4." << 0.0 << 5.0 << false;
    QTest::newRow("prompt opened the thought")
        << QStringList{"Hmm", ",", " two", " plus two.", "\n</think>\n\n", "Four."} << true << true
        << "Hmm, two plus two."
        << "Four." << 0.0 << 4.0 << false;
    QTest::newRow("no think tags") << QStringList{"Hello", " world", "!\n"} << false << true << ""
                                   << "Hello world!\n"
                                   << -1.0 << -1.0 << false;
    QTest::newRow("close tag split") << QStringList{"<think>", "a b", "</thi", "nk>", "c"} << false << true
                                     << "a b"
                                     << "c" << 0.0 << 3.0 << false;
    QTest::newRow("close tag split three ways")
        << QStringList{"<think>x", "<", "/th", "ink", ">", "y"} << false << true << "x"
        << "y" << 0.0 << 4.0 << false;
    QTest::newRow("open tag split") << QStringList{"<th", "ink>x</th", "ink>y"} << false << true << "x"
                                    << "y" << 1.0 << 2.0 << false;
    QTest::newRow("unfinished thought")
        << QStringList{"<think>", "still", " going", "\n"} << false << true << "still going"
        << "" << 0.0 << 4.0 << true;
    QTest::newRow("stopped inside the close tag")
        << QStringList{"<think>", "abc", "</th"} << false << true << "abc</th"
        << "" << 0.0 << 3.0 << true;
    QTest::newRow("stopped inside the open tag") << QStringList{"<thi"} << false << true << ""
                                                 << "<thi" << -1.0 << -1.0 << false;
    QTest::newRow("not a think tag") << QStringList{"<thought>", " x"} << false << true << ""
                                     << "<thought> x" << -1.0 << -1.0 << false;
    QTest::newRow("html answer") << QStringList{"<", "b>bold</b>"} << false << true << ""
                                 << "<b>bold</b>" << -1.0 << -1.0 << false;
    QTest::newRow("whitespace before the tag")
        << QStringList{"\n\n", "  <think>", "x", "</think>", "y"} << false << true << "x"
        << "y" << 1.0 << 3.0 << false;
    QTest::newRow("empty thought") << QStringList{"<think>\n\n</think>\n\n", "Answer"} << false << true << ""
                                   << "Answer" << 0.0 << 0.0 << false;
    QTest::newRow("prompt opened, model repeats the tag")
        << QStringList{"<think>\n", "x", "</think>", "y"} << true << true << "x"
        << "y" << 0.0 << 2.0 << false;
    QTest::newRow("blank lines inside the thought")
        << QStringList{"<think>", "a", "\n\n", "b", "\n", "</think>"} << false << true << "a\n\nb"
        << "" << 0.0 << 5.0 << false;
    QTest::newRow("literal tags in the answer")
        << QStringList{"<think>t</think>", "use <think> and </think>"} << false << true << "t"
        << "use <think> and </think>" << 0.0 << 0.0 << false;
    QTest::newRow("still thinking, not stopped")
        << QStringList{"<think>", "partial", " thought </thi"} << false << false << "partial thought"
        << "" << 0.0 << -1.0 << false;
  }

  void splits_thinking_from_answer() {
    QFETCH(QStringList, pieces);
    QFETCH(bool, starts_in_thinking);
    QFETCH(bool, stop);
    QFETCH(QString, thinking);
    QFETCH(QString, answer);
    QFETCH(double, started);
    QFETCH(double, ended);
    QFETCH(bool, unfinished);
    Run run(starts_in_thinking);
    feed(run, pieces, stop);
    QCOMPARE(QString::fromStdString(run.parser.thinking()), thinking);
    QCOMPARE(QString::fromStdString(run.parser.answer()), answer);
    QCOMPARE(run.thinking_deltas, run.parser.thinking());  // the deltas add up to the whole
    QCOMPARE(run.answer_deltas, run.parser.answer());
    QCOMPARE(run.parser.thinking_started().value_or(-1.0), started);
    QCOMPARE(run.parser.thinking_ended().value_or(-1.0), ended);
    QCOMPARE(run.parser.thought_unfinished(), unfinished);
  }

  // The same text in every possible two-piece split gives the same result.
  void any_split_point_gives_the_same_result() {
    const std::string text = "  <think>\nstep 1\nstep 2\n</think>\n\nfinal answer";
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      ReasoningParser p;
      p.push(text.substr(0, cut), 0.0);
      p.push(text.substr(cut), 1.0);
      p.finish(2.0);
      QCOMPARE(p.thinking(), std::string("step 1\nstep 2"));
      QCOMPARE(p.answer(), std::string("final answer"));
    }
  }

  // Nothing of a tag leaks into a phase while it is still arriving, one character at a time.
  void character_by_character_holds_back_partial_tags() {
    const std::string text = "<think>abc</think>xyz";
    ReasoningParser p;
    std::string seen_thinking, seen_answer;
    for (size_t i = 0; i < text.size(); ++i) {
      const auto d = p.push(text.substr(i, 1), double(i));
      seen_thinking += d.thinking;
      seen_answer += d.answer;
      QVERIFY2(seen_thinking.find('<') == std::string::npos, seen_thinking.c_str());
      QVERIFY2(seen_answer.find('<') == std::string::npos, seen_answer.c_str());
    }
    QCOMPARE(seen_thinking, std::string("abc"));
    QCOMPARE(seen_answer, std::string("xyz"));
    QCOMPARE(p.phase(), ReasoningParser::Phase::Answer);
  }

  void phases_as_tokens_arrive() {
    ReasoningParser p;
    QCOMPARE(p.phase(), ReasoningParser::Phase::Undecided);
    p.push("\n", 0.0);
    QCOMPARE(p.phase(), ReasoningParser::Phase::Undecided);
    p.push("<think>", 0.0);
    QCOMPARE(p.phase(), ReasoningParser::Phase::Thinking);
    p.push("x</think>", 0.0);
    QCOMPARE(p.phase(), ReasoningParser::Phase::Answer);
    ReasoningParser opened(ReasoningParser::Options{true, "<think>", "</think>"});
    QCOMPARE(opened.phase(), ReasoningParser::Phase::Thinking);
  }

  // "Thought for N s" from an injected clock, and from the caller's own timestamps.
  void thinking_time_comes_from_the_clock() {
    double now = 100.0;
    ReasoningParser p(ReasoningParser::Options{}, [&now] { return now; });
    p.push("<think>");
    now = 103.5;
    p.push("done thinking");
    now = 112.25;
    p.push("</think>answer");
    now = 200.0;
    p.finish();
    QCOMPARE(p.thinking_started().value_or(-1), 100.0);
    QCOMPARE(p.thinking_ended().value_or(-1), 112.25);
    QCOMPARE(p.thinking_seconds().value_or(-1), 12.25);

    ReasoningParser none;
    none.push("just an answer", 1.0);
    none.finish(2.0);
    QVERIFY(!none.thinking_seconds());
  }

  void pushes_after_finish_are_ignored() {
    ReasoningParser p;
    p.push("<think>a", 0.0);
    p.finish(1.0);
    const auto d = p.push("</think>b", 2.0);
    QVERIFY(d.thinking.empty() && d.answer.empty());
    QCOMPARE(p.thinking(), std::string("a"));
    QCOMPARE(p.answer(), std::string());
  }
};

QTEST_APPLESS_MAIN(TestReasoning)
#include "tst_reasoning.moc"
