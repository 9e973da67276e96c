#pragma once
// Worked solutions of generated problems, written as the completions a cold-start SFT teaches before GRPO.
//
// A completion is "<steps>\n</think>\n<answer>ANSWER</answer>": it starts inside the thought because the chat
// template's generation prompt already opens it with "<think>\n". The model is small and reads bytes, so the
// steps are few, short and always written the same way: one operation per line, "a+b=c" without spaces.
//   Countdown:  the steps of a shortest solution, the larger operand first ("36+19=55", "55-7=48"); some
//               thoughts open with one dead end ("try 19*7=133, too big") so that the model sees a search.
//               The answer is one expression, "(36+19)-7".
//   Arithmetic: products first, then sums and differences, left to right. A product of two multi-digit
//               numbers is done by partial products of the shorter one's digits, lowest place first
//               ("347*6=2082", "347*50=17350", "2082+17350=19432"). The answer is the integer.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/grpo/tasks.h"

namespace r1 {

// One Countdown operation over positive integers: a - b and a / b have a >= b, a division is exact.
struct CountdownStep {
  int64_t a = 0, b = 0, result = 0;
  char op = '+';
};

struct CountdownSolution {
  std::vector<CountdownStep> steps;  // in the order they are done; the last one reaches the target
  std::string expression;            // the same steps as one expression, "(36+19)-7"
};

// A solution with the fewest steps, each number used at most once and every intermediate value a positive
// integer (as the generator builds its targets); nullopt when there is none. No steps when the target is
// one of the numbers; numbers below 1 (possible in JSONL problems) are left unused.
std::optional<CountdownSolution> solve_countdown(const std::vector<int64_t>& numbers, int64_t target);

// The completion for a generated Countdown or arithmetic problem (meta "task" and its fields). `seed`
// decides whether a Countdown thought opens with a dead end, and which. Errors name the problem: one
// without a solution, an arithmetic expression that is not "a op b op c ..." over + - *, or a reference
// answer that the steps do not reach.
std::string synthesize_completion(const Problem& problem, uint64_t seed);

// SFT lines {"prompt", "completion"} for training problems 0..n-1 of the stream `seed` (training_problem,
// so never a held-out problem). A problem without a solution is left out and counted in `skipped`, so
// fewer than n lines may come back.
std::vector<nlohmann::json> synthesize_sft(const TaskConfig& task, int64_t n, uint64_t seed,
                                           int64_t* skipped = nullptr);

}  // namespace r1
