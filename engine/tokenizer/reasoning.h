#pragma once
// Splits generated text into a thinking phase and an answer phase as it streams in, piece by piece (the
// pieces from StreamingDecoder). Handles <think>...</think>; a prompt that already opened <think> (the model
// emits only
// </think>); output with no think tags at all; tags split across pieces ("</thi" + "nk>"); and a thought left
// unfinished when generation stops. Whitespace between the tags and the text is not part of either phase.
// It records when thinking started and ended, for "Thought for N s".
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace r1 {

class ReasoningParser {
 public:
  enum class Phase {
    Undecided,  // only whitespace or the start of an opening tag so far
    Thinking,
    Answer,
  };
  struct Options {
    bool starts_in_thinking = false;  // the prompt ends inside an opened <think> (ChatTemplate tells)
    std::string open_tag = "<think>";
    std::string close_tag = "</think>";
  };
  // What one push added to each phase.
  struct Delta {
    std::string thinking;
    std::string answer;
  };
  using Clock = std::function<double()>;  // seconds on any fixed scale

  // Without a clock, std::chrono::steady_clock is used.
  ReasoningParser();
  explicit ReasoningParser(Options options, Clock clock = {});

  Delta push(std::string_view piece);              // stamped with the clock
  Delta push(std::string_view piece, double now);  // stamped with the caller's time
  // Generation stopped: releases what was held back (a partial tag is text after all).
  Delta finish();
  Delta finish(double now);

  Phase phase() const { return phase_; }
  const std::string& thinking() const { return thinking_; }
  const std::string& answer() const { return answer_; }
  // When the thought began (the opening tag, or the first piece when the prompt opened it) and ended (the
  // closing tag, or finish() for an unfinished thought).
  std::optional<double> thinking_started() const { return started_; }
  std::optional<double> thinking_ended() const { return ended_; }
  std::optional<double> thinking_seconds() const;
  bool thought_unfinished() const { return unfinished_; }

 private:
  void feed(double now, Delta& delta);
  void emit_thinking(std::string_view text, Delta& delta);
  void emit_answer(std::string_view text, Delta& delta);

  Options options_;
  Clock clock_;
  Phase phase_ = Phase::Undecided;
  std::string held_;  // received, not yet assigned to a phase
  std::string thinking_, answer_;
  bool thinking_text_started_ = false, answer_text_started_ = false;
  std::optional<double> started_, ended_;
  bool unfinished_ = false;
  bool finished_ = false;
};

}  // namespace r1
