#pragma once
// Problems for GRPO: generated tasks with verifiable answers (Countdown, integer arithmetic) and problems
// read from JSONL.
//
// Generation is deterministic from a seed on every platform: it draws only from SplitMix64 below, never from
// std:: distributions, whose output differs between standard libraries.
//
// Held-out problems are kept out of training by their content, not by their seed: a problem belongs to the
// held-out partition when a hash of its key (problem_key: the numbers as a multiset and the target for
// Countdown, the expression for arithmetic) falls in 1/16 of the hash range. Training streams skip such
// problems and the held-out set takes only them, so no training seed, however chosen, can produce a
// held-out problem, whereas disjoint seed ranges alone would still let two seeds draw the same numbers.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct Problem {
  std::string prompt;
  std::string answer;  // the reference: a Countdown target, an integer, or a JSONL file's answer as text
  // Generated problems: "task" ("countdown" or "arithmetic"); Countdown adds "numbers", "target" and
  // "solution" (one expression that reaches the target); arithmetic adds "expression". JSONL problems carry
  // their line's other fields.
  nlohmann::json meta = nlohmann::json::object();
};

// splitmix64 (Steele, Lea, Flood 2014): tiny, and the same sequence everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [lo, hi]; the modulo bias is below 2^-40 for the ranges used here.
  int64_t uniform(int64_t lo, int64_t hi);

 private:
  uint64_t state_;
};

enum class TaskKind { Countdown, Arithmetic };

// "countdown" or "arithmetic"; anything else is an error that lists those.
TaskKind parse_task(std::string_view name);
std::string task_name(TaskKind kind);

// Countdown: reach the target with + - * / over the numbers, each used at most once.
struct CountdownDifficulty {
  int64_t min_numbers = 3, max_numbers = 4;  // how many numbers a problem gives (2..6)
  int64_t max_number = 99;                   // numbers are drawn from 1..max_number (at most 1000)
  int64_t max_target = 999;                  // targets are integers in 1..max_target
};

// Arithmetic: `operands` integers of exactly `digits` digits joined by operators from `operators`, evaluated
// with the usual precedence. digits * operands is at most 18 so that every result fits in 64 bits.
struct ArithmeticDifficulty {
  int64_t digits = 3;
  int64_t operands = 2;
  std::string operators = "+-*";
};

// Presets: "easy" (3 numbers up to 20, targets up to 100; two-digit sums and differences) is within reach of
// a tiny model trained for minutes on a CPU; "easy200" takes targets up to 200 (more of them need a
// product; three-digit sums), the harder variant on which r1-tiny's CPU demo improves within 50 steps;
// "medium" (3 numbers up to 30, targets up to 200; three-digit sums and differences) is the step beyond;
// "default" is the usual Countdown (3-4 numbers up to 99) and three-digit arithmetic; "hard" (4-5 numbers;
// three four-digit operands) leaves room for a capable model's reward to rise.
struct TaskConfig {
  TaskKind kind = TaskKind::Countdown;
  CountdownDifficulty countdown;
  ArithmeticDifficulty arithmetic;

  // Unknown task or preset names are errors that list the known ones.
  static TaskConfig preset(std::string_view task, std::string_view difficulty = "default");
  // Checks ranges; errors name the field.
  void validate() const;
  nlohmann::json to_json() const;
  static TaskConfig from_json(const nlohmann::json& j, const std::string& origin);
};

std::vector<std::string> difficulty_names();              // "easy", "easy200", "medium", "default", "hard"
std::string difficulty_list(std::string_view separator);  // the names joined: "easy|easy200|..." for "|"

// A Countdown problem's numbers and target: meta "numbers" and "target", the target falling back to the
// answer (JSONL Countdown data may carry it there). Errors name the meta field.
struct CountdownSpec {
  std::vector<int64_t> numbers;
  int64_t target = 0;
};
CountdownSpec countdown_spec(const Problem& problem);

// What identifies a problem regardless of its wording or the order its numbers are listed in.
std::string problem_key(const Problem& problem);
bool is_heldout(const Problem& problem);

// Problem `index` of the training stream `seed`: depends only on (task, seed, index), so a resumed run
// draws the same problems without replaying the stream. Never a held-out problem.
Problem training_problem(const TaskConfig& task, uint64_t seed, uint64_t index);
// Problems first .. first + n - 1 of the training stream `seed`.
std::vector<Problem> make_problems(const TaskConfig& task, int64_t n, uint64_t seed, uint64_t first = 0);
// The fixed evaluation set: n distinct held-out problems, the same for every run with this task config.
// A problem space too small to hold n distinct held-out problems is an error.
std::vector<Problem> heldout_problems(const TaskConfig& task, int64_t n = 500);

// Lines are {"prompt": string, "answer": string or number}; other fields go to meta. Blank lines are skipped.
// Errors name the file, the 1-based line and the field; a file without problems is an error.
std::vector<Problem> read_problems_jsonl(const std::filesystem::path& path);
std::vector<Problem> parse_problems_jsonl(std::string_view text, const std::string& origin);

}  // namespace r1
