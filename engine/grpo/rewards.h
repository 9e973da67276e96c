#pragma once
// Rewards for GRPO: verifiers that score a completion against its problem, each a named function with a
// weight, and the set a run's reward spec ("countdown:1.0,format:0.2") turns into.
//
// A verifier reads only the completion's answer part (after </think>), so an answer written inside the
// thought earns nothing. Built-ins, by spec name:
//   countdown   1.0 when the equation uses only the given numbers, each at most once, and equals the target
//               exactly; 0.1 when it is a well-formed expression or equation that is wrong; 0.0 otherwise.
//   arithmetic  1.0 when the final integer of the answer equals the reference, else 0.
//   math        1.0 when the \boxed{} or "#### " answer equals the reference after normalisation, else 0.
//   accuracy    the task's own verifier, picked by the problem's meta "task" (math for JSONL problems),
//               scoring 1.0 only when correct: the metric, usable as a reward.
//   format      1.0 for "<think>...</think>answer" (see format_reward), else 0.
//   length      DAPO's overlong penalty (see overlong_penalty), 0 or below.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/grpo/tasks.h"

namespace r1 {

// A completion split at the first "</think>": thinking is the text before it (less a leading "<think>"),
// answer the text after it. Without "</think>" thinking is empty and answer is the whole text, so a model
// that never thinks is still scored on what it wrote, and the format reward is what asks for the tags. Both
// parts are trimmed of surrounding whitespace.
struct Completion {
  std::string text;
  std::string thinking;
  std::string answer;
  bool truncated = false;  // generation stopped at the length limit, not at EOS
  int64_t tokens = 0;

  static Completion from_text(std::string text, bool truncated = false, int64_t tokens = 0);
};

// Exact evaluation of an arithmetic expression: integers, + - * /, parentheses and unary minus, with the
// usual precedence, over rationals so that 8 / 3 * 3 is 8. Whitespace is ignored; any other character
// makes the text not an expression.
struct ExpressionValue {
  bool defined = true;  // false: a division by zero, or a value or literal beyond 64-bit rationals
  int64_t numerator = 0, denominator = 1;  // in lowest terms, denominator > 0
  std::vector<int64_t> numbers;            // the integer literals, in order of appearance

  bool is_integer(int64_t value) const { return defined && denominator == 1 && numerator == value; }
};
// nullopt when the text is not an expression (unknown characters, unbalanced parentheses, a missing
// operand, nesting deeper than 100).
std::optional<ExpressionValue> evaluate_expression(std::string_view text);

// The text of the last complete <answer>...</answer> in `text`, trimmed.
std::optional<std::string> answer_tag(std::string_view text);
// The last \boxed{...} with balanced braces, or else the rest of the line after the last "#### ".
std::optional<std::string> extract_math_answer(std::string_view text);
// Spaces removed, then a leading "$", a trailing ".0" (".00", ...) and the commas of a number.
std::string normalize_math_answer(std::string_view text);

double countdown_reward(const Problem& problem, const Completion& completion);
double arithmetic_reward(const Problem& problem, const Completion& completion);
// The reference is extracted the same way when it holds \boxed{} or "#### " (GSM8K answers do); numbers
// compare by value when both sides parse as numbers, other answers by their normalised text.
double math_reward(const Problem& problem, const Completion& completion);
// 1.0 when the completion holds exactly one "</think>" followed by non-empty text, has at most one
// "<think>" and only at its start, and was not truncated; else 0. The opening tag may be missing because
// some chat templates end the prompt with "<think>".
double format_reward(const Completion& completion);

// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13): 0 up to max_tokens - cache tokens, then falling
// linearly to -1 at max_tokens, and -1 beyond. cache must be in 1..max_tokens.
double overlong_penalty(int64_t tokens, int64_t max_tokens, int64_t cache);

// The problem's task verifier (meta "task": countdown, arithmetic; anything else, math) scores 1.0.
bool is_correct(const Problem& problem, const Completion& completion);
bool well_formatted(const Completion& completion);

struct RewardFn {
  std::string name;
  double weight = 1.0;
  std::function<double(const Problem&, const Completion&)> fn;
};

struct RewardOptions {
  int64_t max_tokens = 0;      // the generation limit; needed by "length"
  int64_t overlong_cache = 0;  // the length penalty's ramp; 0: a fifth of max_tokens (DAPO's 4096 of 20480)
};

struct RewardScore {
  std::vector<std::pair<std::string, double>> values;  // per function, unweighted, in the set's order
  double total = 0;                                    // the weighted sum
};

class RewardSet {
 public:
  RewardSet() = default;
  explicit RewardSet(std::vector<RewardFn> functions);

  // "name:weight,name:weight,..." with spaces allowed around items; a name without ":weight" weighs 1.
  // Errors name the item and, for an unknown name, list the known ones.
  static RewardSet parse(std::string_view spec, const RewardOptions& options = {});
  static std::vector<std::string> known_names();

  RewardScore score(const Problem& problem, const Completion& completion) const;
  const std::vector<RewardFn>& functions() const { return functions_; }
  std::string spec() const;  // parses back to the same set

 private:
  std::vector<RewardFn> functions_;
};

// What a run on the task uses unless told otherwise: the verifier at 1.0 and the format reward at 0.2.
std::string default_reward_spec(TaskKind kind);

}  // namespace r1
