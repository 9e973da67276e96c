#include "engine/tokenizer/reasoning.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace r1 {

namespace {

constexpr std::string_view kSpace = " \t\r\n";

std::string_view lstrip(std::string_view s) {
  const size_t first = s.find_first_not_of(kSpace);
  return first == std::string_view::npos ? std::string_view() : s.substr(first);
}

std::string_view rstrip(std::string_view s) {
  const size_t last = s.find_last_not_of(kSpace);
  return last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1);
}

// Length of the longest end of `text` that could be the start of `tag` (a tag cut between two pieces).
size_t partial_tag_at_end(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

ReasoningParser::ReasoningParser() : ReasoningParser(Options{}) {}

ReasoningParser::ReasoningParser(Options options, Clock clock)
    : options_(std::move(options)), clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  if (options_.starts_in_thinking) phase_ = Phase::Thinking;
}

ReasoningParser::Delta ReasoningParser::push(std::string_view piece) {
  return push(piece, clock_());
}

ReasoningParser::Delta ReasoningParser::push(std::string_view piece, double now) {
  Delta delta;
  if (finished_) return delta;
  if (phase_ == Phase::Thinking && !started_) started_ = now;  // the prompt opened the thought
  held_ += piece;
  feed(now, delta);
  return delta;
}

void ReasoningParser::feed(double now, Delta& delta) {
  const std::string& open = options_.open_tag;
  const std::string& close = options_.close_tag;
  for (;;) {
    if (phase_ == Phase::Undecided) {
      const std::string_view rest = lstrip(held_);
      if (rest.empty()) return;
      if (rest.starts_with(open)) {
        phase_ = Phase::Thinking;
        started_ = now;
        held_.erase(0, held_.size() - rest.size() + open.size());
        continue;
      }
      if (std::string_view(open).starts_with(rest)) return;  // maybe the opening tag, cut short
      phase_ = Phase::Answer;
      continue;
    }
    if (phase_ == Phase::Thinking) {
      if (!thinking_text_started_) {  // an opening tag the prompt already gave is not part of the thought
        const std::string_view rest = lstrip(held_);
        if (rest.starts_with(open)) {
          held_.erase(0, held_.size() - rest.size() + open.size());
          continue;
        }
        if (!rest.empty() && std::string_view(open).starts_with(rest)) return;
      }
      const size_t end = held_.find(close);
      if (end != std::string::npos) {
        emit_thinking(rstrip(std::string_view(held_).substr(0, end)), delta);
        ended_ = now;
        phase_ = Phase::Answer;
        held_.erase(0, end + close.size());
        continue;
      }
      // Hold back a tag that may be cut short and the whitespace before it: neither belongs to the thought
      // yet.
      const size_t keep = held_.size() - partial_tag_at_end(held_, close);
      const size_t ready = rstrip(std::string_view(held_).substr(0, keep)).size();
      emit_thinking(std::string_view(held_).substr(0, ready), delta);
      held_.erase(0, ready);
      return;
    }
    emit_answer(held_, delta);
    held_.clear();
    return;
  }
}

void ReasoningParser::emit_thinking(std::string_view text, Delta& delta) {
  if (!thinking_text_started_) text = lstrip(text);
  if (text.empty()) return;
  thinking_text_started_ = true;
  thinking_.append(text);
  delta.thinking.append(text);
}

void ReasoningParser::emit_answer(std::string_view text, Delta& delta) {
  if (!answer_text_started_) text = lstrip(text);
  if (text.empty()) return;
  answer_text_started_ = true;
  answer_.append(text);
  delta.answer.append(text);
}

ReasoningParser::Delta ReasoningParser::finish() {
  return finish(clock_());
}

ReasoningParser::Delta ReasoningParser::finish(double now) {
  Delta delta;
  if (finished_) return delta;
  finished_ = true;
  if (phase_ == Phase::Thinking) {
    emit_thinking(rstrip(held_), delta);
    unfinished_ = true;
    if (started_) ended_ = now;
  } else {
    emit_answer(held_, delta);
  }
  held_.clear();
  return delta;
}

std::optional<double> ReasoningParser::thinking_seconds() const {
  if (!started_ || !ended_) return std::nullopt;
  return *ended_ - *started_;
}

}  // namespace r1
