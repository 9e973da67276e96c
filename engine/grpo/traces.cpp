#include "engine/grpo/traces.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "engine/core/error.h"
#include "engine/grpo/rewards.h"
#include "expression_node.h"

namespace r1 {

namespace {

using json = nlohmann::json;

// A dead end now and then shows the model that a first idea may fail; in most thoughts it would only cost
// context, and the model would learn to waste a line on every problem.
constexpr int64_t kDeadEndOneIn = 4;
// Keeps the trace seeds apart from the problem stream drawn from the same user seed.
constexpr uint64_t kTraceDomain = 0x7472'6163'6573'2131ull;

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& line : lines) s += (s.empty() ? "" : "\n") + line;
  return s;
}

std::string completion_text(const std::vector<std::string>& lines, const std::string& answer) {
  return cat(join_lines(lines), "\n</think>\n<answer>", answer, "</answer>");
}

// --- Countdown ---

using Node = ExpressionNode;

std::string step_text(const CountdownStep& s) {
  return cat(s.a, s.op, s.b, "=", s.result);
}

// The larger operand goes first, so subtraction and division never leave the positive integers. A product
// or quotient by 1 is refused: it only spends a number without changing anything.
std::optional<CountdownStep> apply(int64_t x, int64_t y, char op) {
  CountdownStep s{std::max(x, y), std::min(x, y), 0, op};
  switch (op) {
    case '+':
      if (__builtin_add_overflow(s.a, s.b, &s.result)) return std::nullopt;
      break;
    case '-':
      if (s.a == s.b) return std::nullopt;
      s.result = s.a - s.b;
      break;
    case '*':
      if (s.b == 1 || __builtin_mul_overflow(s.a, s.b, &s.result)) return std::nullopt;
      break;
    default:
      if (s.b == 1 || s.a % s.b != 0) return std::nullopt;
      s.result = s.a / s.b;
      break;
  }
  return s;
}

std::vector<Node> without_pair(const std::vector<Node>& pool, size_t i, size_t j, Node made) {
  std::vector<Node> next;
  next.reserve(pool.size() - 1);
  for (size_t k = 0; k < pool.size(); ++k)
    if (k != i && k != j) next.push_back(pool[k]);
  next.push_back(std::move(made));
  return next;
}

Node combined(const Node& x, const Node& y, const CountdownStep& s) {
  const bool x_first = x.value >= y.value;
  const Node& first = x_first ? x : y;
  const Node& second = x_first ? y : x;
  return {s.result, cat(operand_text(first), s.op, operand_text(second)), true};
}

// Depth-first over every pair and operation, stopping at the first new value equal to the target. Called
// with growing step limits, the first solution found has the fewest steps, and every one of its steps is
// needed (an unneeded one could be dropped for a shorter solution).
bool reach(const std::vector<Node>& pool, int64_t target, size_t steps_left,
           std::vector<CountdownStep>& steps, std::string& expression) {
  for (size_t i = 0; i < pool.size(); ++i) {
    for (size_t j = i + 1; j < pool.size(); ++j) {
      for (const char op : {'+', '-', '*', '/'}) {
        const std::optional<CountdownStep> s = apply(pool[i].value, pool[j].value, op);
        if (!s) continue;
        Node made = combined(pool[i], pool[j], *s);
        steps.push_back(*s);
        if (s->result == target) {
          expression = made.text;
          return true;
        }
        if (steps_left > 1 &&
            reach(without_pair(pool, i, j, std::move(made)), target, steps_left - 1, steps, expression))
          return true;
        steps.pop_back();
      }
    }
  }
  return false;
}

std::vector<Node> leaves(const std::vector<int64_t>& numbers) {
  std::vector<Node> pool;
  for (const int64_t n : numbers)
    if (n > 0) pool.push_back({n, std::to_string(n), false});
  return pool;
}

bool reachable(const std::vector<Node>& pool, int64_t target) {
  if (std::any_of(pool.begin(), pool.end(), [&](const Node& n) { return n.value == target; })) return true;
  std::vector<CountdownStep> steps;
  std::string expression;
  return pool.size() > 1 && reach(pool, target, pool.size() - 1, steps, expression);
}

// First steps over the given numbers after which the target can no longer be reached.
std::vector<CountdownStep> dead_ends(const std::vector<int64_t>& numbers, int64_t target) {
  const std::vector<Node> pool = leaves(numbers);
  std::vector<CountdownStep> out;
  for (size_t i = 0; i < pool.size(); ++i)
    for (size_t j = i + 1; j < pool.size(); ++j)
      for (const char op : {'+', '-', '*', '/'}) {
        const std::optional<CountdownStep> s = apply(pool[i].value, pool[j].value, op);
        if (s && !reachable(without_pair(pool, i, j, combined(pool[i], pool[j], *s)), target))
          out.push_back(*s);
      }
  return out;
}

bool uses_at_most(std::vector<int64_t> used, std::vector<int64_t> available) {
  std::sort(used.begin(), used.end());
  std::sort(available.begin(), available.end());
  return std::includes(available.begin(), available.end(), used.begin(), used.end());
}

std::optional<std::string> countdown_completion(const Problem& problem, uint64_t seed) {
  const CountdownSpec spec = countdown_spec(problem);
  const std::optional<CountdownSolution> solution = solve_countdown(spec.numbers, spec.target);
  if (!solution) return std::nullopt;
  const std::optional<ExpressionValue> check = evaluate_expression(solution->expression);
  if (!check || !check->is_integer(spec.target) || !uses_at_most(check->numbers, spec.numbers))
    fail("countdown problem ", problem_key(problem), ": the solution \"", solution->expression,
         "\" does not check out");

  std::vector<std::string> lines;
  SplitMix64 rng(seed);
  if (!solution->steps.empty() && rng.uniform(0, kDeadEndOneIn - 1) == 0) {
    const std::vector<CountdownStep> candidates = dead_ends(spec.numbers, spec.target);
    if (!candidates.empty()) {
      const CountdownStep& s = candidates[size_t(rng.uniform(0, int64_t(candidates.size()) - 1))];
      lines.push_back(cat("try ", step_text(s), s.result > spec.target ? ", too big" : ", dead end"));
    }
  }
  if (solution->steps.empty()) lines.push_back(cat(spec.target, " is given"));
  for (const CountdownStep& s : solution->steps) lines.push_back(step_text(s));
  return completion_text(lines, solution->expression);
}

// --- Arithmetic ---

int64_t digit_count(int64_t x) {
  int64_t n = 1;
  for (; x >= 10; x /= 10) ++n;
  return n;
}

// x * y, written as one line unless both are multi-digit: then as partial products of the shorter operand's
// non-zero digits (the right one when they are equally long), lowest place first, and their running sum.
int64_t multiply(int64_t x, int64_t y, std::vector<std::string>& lines) {
  const bool split_right = digit_count(y) <= digit_count(x);
  const int64_t whole = split_right ? x : y, split = split_right ? y : x;
  std::vector<std::pair<int64_t, int64_t>> partials;  // (digit * place, whole * digit * place)
  for (int64_t rest = split, place = 1; rest > 0; rest /= 10, place *= 10)
    if (rest % 10 != 0) partials.emplace_back(rest % 10 * place, whole * (rest % 10) * place);
  if (digit_count(x) < 2 || digit_count(y) < 2 || partials.size() < 2) {
    lines.push_back(cat(x, "*", y, "=", x * y));
    return x * y;
  }
  int64_t sum = 0;
  for (const auto& [factor, partial] : partials) lines.push_back(cat(whole, "*", factor, "=", partial));
  for (size_t k = 0; k < partials.size(); ++k) {
    if (k > 0) lines.push_back(cat(sum, "+", partials[k].second, "=", sum + partials[k].second));
    sum += partials[k].second;
  }
  return sum;
}

std::optional<int64_t> parse_integer(std::string_view s) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// "a op b op c ..." with single spaces, as the generator writes it: operands, then the operators between.
std::pair<std::vector<int64_t>, std::string> parse_chain(const Problem& problem) {
  const auto it = problem.meta.find("expression");
  if (it == problem.meta.end() || !it->is_string())
    fail("arithmetic problem: meta field \"expression\" is missing or not a string");
  const std::string& text = it->get_ref<const std::string&>();
  const auto bad = [&]() {
    fail("arithmetic problem: meta field \"expression\" \"", text,
         "\" is not \"a op b op c ...\" over non-negative integers and + - *");
  };
  std::vector<int64_t> operands;
  std::string ops;
  size_t start = 0;
  for (size_t k = 0; start <= text.size(); ++k) {
    const size_t space = std::min(text.find(' ', start), text.size());
    const std::string_view token = std::string_view(text).substr(start, space - start);
    if (k % 2 == 0) {
      const std::optional<int64_t> value = parse_integer(token);
      if (!value || *value < 0 || token.starts_with('+')) bad();
      operands.push_back(*value);
    } else {
      if (token != "+" && token != "-" && token != "*") bad();
      ops += token[0];
    }
    start = space + 1;
  }
  if (operands.size() < 2 || ops.size() + 1 != operands.size()) bad();
  return {std::move(operands), std::move(ops)};
}

std::string arithmetic_completion(const Problem& problem) {
  const auto [operands, ops] = parse_chain(problem);
  const auto overflow = [&]() {
    fail("arithmetic problem ", problem_key(problem), ": a value leaves the 64-bit range");
  };
  std::vector<std::string> lines;
  std::vector<int64_t> terms = {operands[0]};
  std::string signs;  // the + or - before each term after the first
  for (size_t k = 0; k < ops.size(); ++k) {
    if (ops[k] != '*') {
      terms.push_back(operands[k + 1]);
      signs += ops[k];
      continue;
    }
    int64_t product = 0;
    if (__builtin_mul_overflow(terms.back(), operands[k + 1], &product)) overflow();
    terms.back() = multiply(terms.back(), operands[k + 1], lines);
  }
  int64_t value = terms[0];
  for (size_t k = 0; k < signs.size(); ++k) {
    int64_t next = 0;
    if (signs[k] == '+' ? __builtin_add_overflow(value, terms[k + 1], &next)
                        : __builtin_sub_overflow(value, terms[k + 1], &next))
      overflow();
    lines.push_back(cat(value, signs[k], terms[k + 1], "=", next));
    value = next;
  }
  const std::optional<int64_t> reference = parse_integer(problem.answer);
  if (!reference || *reference != value)
    fail("arithmetic problem ", problem_key(problem), ": the steps give ", value, " but the answer is \"",
         problem.answer, "\"");
  return completion_text(lines, std::to_string(value));
}

std::optional<std::string> try_completion(const Problem& problem, uint64_t seed) {
  const auto task = problem.meta.find("task");
  if (task != problem.meta.end() && *task == "countdown") return countdown_completion(problem, seed);
  if (task != problem.meta.end() && *task == "arithmetic") return arithmetic_completion(problem);
  fail("synthesized traces: problem \"", problem.prompt.substr(0, 60),
       "\" has no meta \"task\" of countdown or arithmetic");
}

}  // namespace

std::optional<CountdownSolution> solve_countdown(const std::vector<int64_t>& numbers, int64_t target) {
  const std::vector<Node> pool = leaves(numbers);
  CountdownSolution solution;
  if (std::any_of(pool.begin(), pool.end(), [&](const Node& n) { return n.value == target; })) {
    solution.expression = std::to_string(target);
    return solution;
  }
  for (size_t limit = 1; limit < pool.size(); ++limit)
    if (reach(pool, target, limit, solution.steps, solution.expression)) return solution;
  return std::nullopt;
}

std::string synthesize_completion(const Problem& problem, uint64_t seed) {
  std::optional<std::string> text = try_completion(problem, seed);
  if (!text)
    fail("countdown problem ", problem_key(problem), ": no solution with + - * / over positive integers");
  return std::move(*text);
}

std::vector<json> synthesize_sft(const TaskConfig& task, int64_t n, uint64_t seed, int64_t* skipped) {
  if (n < 0) fail("synthesized traces: the number of examples must not be negative, found ", n);
  SplitMix64 trace_seeds(seed ^ kTraceDomain);
  std::vector<json> lines;
  lines.reserve(size_t(n));
  int64_t unsolved = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Problem problem = training_problem(task, seed, uint64_t(i));
    const std::optional<std::string> completion = try_completion(problem, trace_seeds.next());
    if (!completion) {
      ++unsolved;
      continue;
    }
    lines.push_back({{"prompt", problem.prompt}, {"completion", *completion}});
  }
  if (skipped) *skipped = unsolved;
  return lines;
}

}  // namespace r1
