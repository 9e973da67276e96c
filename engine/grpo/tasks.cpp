#include "engine/grpo/tasks.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_set>
#include <utility>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/core/jsonl.h"
#include "engine/model/json_fields.h"
#include "expression_node.h"

namespace r1 {

namespace {

using json = nlohmann::json;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// Keeps the held-out candidates' generator states apart from any training stream's, so that the two draw
// different sequences even where they are not required to.
constexpr uint64_t kHeldoutDomain = 0x6865'6C64'6F75'7421ull;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

std::string join_numbers(const std::vector<int64_t>& numbers) {
  std::string s;
  for (size_t i = 0; i < numbers.size(); ++i) s += (i ? ", " : "") + std::to_string(numbers[i]);
  return s;
}

// --- Countdown ---

using Node = ExpressionNode;

// Intermediate values stay positive integers, as in the game: a subtraction takes the larger minus the
// smaller, a division must be exact, and a zero (a - a) ends the attempt.
std::optional<Node> combine(Node a, Node b, char op) {
  int64_t value = 0;
  switch (op) {
    case '+':
      value = a.value + b.value;
      break;
    case '-':
      if (a.value < b.value) std::swap(a, b);
      if (a.value == b.value) return std::nullopt;
      value = a.value - b.value;
      break;
    case '*':
      value = a.value * b.value;
      break;
    default:
      if (a.value % b.value != 0) std::swap(a, b);
      if (a.value % b.value != 0) return std::nullopt;
      value = a.value / b.value;
      break;
  }
  return Node{value, operand_text(a) + " " + op + " " + operand_text(b), true};
}

// Random binary trees over all the numbers until one evaluates to an admissible target: in range, and not
// one of the numbers (which would make a single number a complete answer).
Problem countdown_problem(const CountdownDifficulty& d, SplitMix64& rng) {
  constexpr int kMaxDraws = 100000, kTreesPerDraw = 16;
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    std::vector<int64_t> numbers(static_cast<size_t>(rng.uniform(d.min_numbers, d.max_numbers)));
    for (int64_t& n : numbers) n = rng.uniform(1, d.max_number);
    for (int tree = 0; tree < kTreesPerDraw; ++tree) {
      std::vector<Node> pool;
      for (const int64_t n : numbers) pool.push_back({n, std::to_string(n), false});
      bool ok = true;
      while (ok && pool.size() > 1) {
        const auto last = static_cast<int64_t>(pool.size()) - 1;
        const int64_t i = rng.uniform(0, last);
        int64_t j = rng.uniform(0, last - 1);
        if (j >= i) ++j;
        const char op = "+-*/"[rng.uniform(0, 3)];
        std::optional<Node> node = combine(pool[size_t(i)], pool[size_t(j)], op);
        if (!node) {
          ok = false;
          break;
        }
        pool.erase(pool.begin() + std::max(i, j));
        pool.erase(pool.begin() + std::min(i, j));
        pool.push_back(std::move(*node));
      }
      if (!ok) continue;
      const int64_t target = pool[0].value;
      if (target < 1 || target > d.max_target) continue;
      if (std::find(numbers.begin(), numbers.end(), target) != numbers.end()) continue;
      Problem p;
      p.prompt =
          cat("Using the numbers [", join_numbers(numbers), "], create an equation that equals ", target,
              ". You can use +, -, *, / and parentheses, and each number at most once. Show your "
              "reasoning in <think> </think> and give only the equation in <answer> </answer>, for "
              "example <answer>(1 + 2) / 3</answer>.");
      p.answer = std::to_string(target);
      p.meta = {{"task", "countdown"}, {"numbers", numbers}, {"target", target}, {"solution", pool[0].text}};
      return p;
    }
  }
  fail("countdown task: no admissible problem found with numbers 1..", d.max_number, " and targets 1..",
       d.max_target, "; widen the difficulty");
}

// --- Arithmetic ---

int64_t power10(int64_t e) {
  int64_t p = 1;
  while (e-- > 0) p *= 10;
  return p;
}

Problem arithmetic_problem(const ArithmeticDifficulty& d, SplitMix64& rng) {
  const int64_t lo = power10(d.digits - 1), hi = power10(d.digits) - 1;
  std::vector<int64_t> operands(static_cast<size_t>(d.operands));
  for (int64_t& x : operands) x = rng.uniform(lo, hi);
  std::string ops;
  for (int64_t i = 1; i < d.operands; ++i)
    ops += d.operators[size_t(rng.uniform(0, int64_t(d.operators.size()) - 1))];

  // Products bind tighter: sum the signed products. digits * operands <= 18 keeps every value in range.
  int64_t sum = 0, product = operands[0], sign = 1;
  std::string text = std::to_string(operands[0]);
  for (size_t i = 1; i < operands.size(); ++i) {
    const char op = ops[i - 1];
    text += cat(" ", op, " ", operands[i]);
    if (op == '*') {
      product *= operands[i];
    } else {
      sum += sign * product;
      sign = op == '+' ? 1 : -1;
      product = operands[i];
    }
  }
  sum += sign * product;

  Problem p;
  p.prompt = cat("Compute ", text,
                 ". Show your reasoning in <think> </think> and give only the final integer in <answer> "
                 "</answer>.");
  p.answer = std::to_string(sum);
  p.meta = {{"task", "arithmetic"}, {"expression", text}};
  return p;
}

Problem generate(const TaskConfig& task, SplitMix64& rng) {
  return task.kind == TaskKind::Countdown ? countdown_problem(task.countdown, rng)
                                          : arithmetic_problem(task.arithmetic, rng);
}

// --- JSONL ---

Problem parse_problem_line(std::string_view text, int64_t line, std::string_view origin) {
  const std::string at = jsonl_where(origin, line);
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    fail(at, ": not valid JSON at column ", e.byte);
  } catch (const json::exception& e) {  // a number out of range (406)
    fail(at, ": not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail(at, ": expected an object with \"prompt\" and \"answer\", found ", json_brief(j));
  Problem p;
  const auto prompt = j.find("prompt");
  if (prompt == j.end()) fail(at, ": field \"prompt\" is missing");
  if (!prompt->is_string() || prompt->get_ref<const std::string&>().empty())
    fail(at, ": field \"prompt\" must be a non-empty string, found ", json_brief(*prompt));
  p.prompt = prompt->get<std::string>();
  const auto answer = j.find("answer");
  if (answer == j.end()) fail(at, ": field \"answer\" is missing");
  if (answer->is_string() && !answer->get_ref<const std::string&>().empty())
    p.answer = answer->get<std::string>();
  else if (answer->is_number())
    p.answer = answer->dump();
  else
    fail(at, ": field \"answer\" must be a non-empty string or a number, found ", json_brief(*answer));
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "prompt" && it.key() != "answer") p.meta[it.key()] = it.value();
  return p;
}

}  // namespace

uint64_t SplitMix64::next() {
  state_ += kGolden;
  return mix64(state_);
}

int64_t SplitMix64::uniform(int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(next() % span);
}

TaskKind parse_task(std::string_view name) {
  if (name == "countdown") return TaskKind::Countdown;
  if (name == "arithmetic") return TaskKind::Arithmetic;
  fail("unknown task \"", name, "\" (known: countdown, arithmetic)");
}

std::string task_name(TaskKind kind) {
  return kind == TaskKind::Countdown ? "countdown" : "arithmetic";
}

std::vector<std::string> difficulty_names() {
  return {"easy", "easy200", "medium", "default", "hard"};
}

std::string difficulty_list(std::string_view separator) {
  std::string list;
  for (const std::string& name : difficulty_names()) {
    if (!list.empty()) list += separator;
    list += name;
  }
  return list;
}

TaskConfig TaskConfig::preset(std::string_view task, std::string_view difficulty) {
  TaskConfig c;
  c.kind = parse_task(task);
  if (difficulty == "easy") {
    c.countdown = {3, 3, 20, 100};
    c.arithmetic = {2, 2, "+-"};
  } else if (difficulty == "easy200") {
    c.countdown = {3, 3, 20, 200};
    c.arithmetic = {2, 3, "+-"};
  } else if (difficulty == "medium") {
    c.countdown = {3, 3, 30, 200};
    c.arithmetic = {3, 2, "+-"};
  } else if (difficulty == "hard") {
    c.countdown = {4, 5, 99, 999};
    c.arithmetic = {4, 3, "+-*"};
  } else if (difficulty != "default") {
    fail("unknown difficulty \"", difficulty, "\" for task ", task, " (known: ", difficulty_list(", "), ")");
  }
  return c;
}

void TaskConfig::validate() const {
  const auto bad = [&](std::string_view field, auto&&... what) {
    fail(task_name(kind), " task: field \"", field, "\" ", what...);
  };
  if (kind == TaskKind::Countdown) {
    const CountdownDifficulty& d = countdown;
    if (d.min_numbers < 2 || d.min_numbers > 6) bad("min_numbers", "must be in 2..6, found ", d.min_numbers);
    if (d.max_numbers < d.min_numbers || d.max_numbers > 6)
      bad("max_numbers", "must be in min_numbers..6 (", d.min_numbers, "..6), found ", d.max_numbers);
    if (d.max_number < 2 || d.max_number > 1000)
      bad("max_number", "must be in 2..1000, found ", d.max_number);
    if (d.max_target < 1 || d.max_target > 1000000)
      bad("max_target", "must be in 1..1000000, found ", d.max_target);
  } else {
    const ArithmeticDifficulty& d = arithmetic;
    if (d.digits < 1 || d.digits > 9) bad("digits", "must be in 1..9, found ", d.digits);
    if (d.operands < 2 || d.operands > 18) bad("operands", "must be in 2..18, found ", d.operands);
    if (d.digits * d.operands > 18)
      bad("operands", "times digits must be at most 18 so that results fit in 64 bits, found ", d.operands,
          " x ", d.digits);
    const bool known = std::all_of(d.operators.begin(), d.operators.end(),
                                   [](char c) { return c == '+' || c == '-' || c == '*'; });
    std::string sorted = d.operators;
    std::sort(sorted.begin(), sorted.end());
    if (d.operators.empty() || !known || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      bad("operators", "must be distinct characters from \"+-*\", found \"", d.operators, "\"");
  }
}

json TaskConfig::to_json() const {
  if (kind == TaskKind::Countdown)
    return {{"task", "countdown"},
            {"min_numbers", countdown.min_numbers},
            {"max_numbers", countdown.max_numbers},
            {"max_number", countdown.max_number},
            {"max_target", countdown.max_target}};
  return {{"task", "arithmetic"},
          {"digits", arithmetic.digits},
          {"operands", arithmetic.operands},
          {"operators", arithmetic.operators}};
}

TaskConfig TaskConfig::from_json(const json& j, const std::string& origin) {
  if (!j.is_object()) fail(origin, ": a task config must be an object, found ", json_brief(j));
  const JsonFields f{j, origin};
  const json* name = f.get("task");
  if (!name) f.bad("task", "is missing");
  if (!name->is_string()) f.bad("task", cat("must be a string, found ", json_brief(*name)));
  TaskConfig c;
  try {
    c = preset(name->get<std::string>());
  } catch (const Error& e) {
    f.bad("task", e.what());
  }
  // A misspelt setting would otherwise fall back to the preset unnoticed.
  const std::vector<std::string> known =
      c.kind == TaskKind::Countdown
          ? std::vector<std::string>{"min_numbers", "max_numbers", "max_number", "max_target"}
          : std::vector<std::string>{"digits", "operands", "operators"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "task" || std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    f.bad(it.key(), cat("is not a setting of the ", task_name(c.kind), " task (known: ", list, ")"));
  }
  CountdownDifficulty& cd = c.countdown;
  cd.min_numbers = f.integer("min_numbers", cd.min_numbers, false, 0);
  cd.max_numbers = f.integer("max_numbers", cd.max_numbers, false, 0);
  cd.max_number = f.integer("max_number", cd.max_number, false, 0);
  cd.max_target = f.integer("max_target", cd.max_target, false, 0);
  ArithmeticDifficulty& ad = c.arithmetic;
  ad.digits = f.integer("digits", ad.digits, false, 0);
  ad.operands = f.integer("operands", ad.operands, false, 0);
  ad.operators = f.string("operators", ad.operators);
  try {
    c.validate();
  } catch (const Error& e) {
    fail(origin, ": ", e.what());
  }
  return c;
}

CountdownSpec countdown_spec(const Problem& problem) {
  const json& m = problem.meta;
  CountdownSpec spec;
  const auto numbers = m.find("numbers");
  if (numbers == m.end())
    fail("countdown problem: meta field \"numbers\" is missing (is this a Countdown problem?)");
  if (!numbers->is_array() || numbers->empty() ||
      !std::all_of(numbers->begin(), numbers->end(), [](const json& x) { return x.is_number_integer(); }))
    fail("countdown problem: meta field \"numbers\" must be a non-empty list of integers, found ",
         json_brief(*numbers));
  spec.numbers = numbers->get<std::vector<int64_t>>();
  const auto target = m.find("target");
  if (target != m.end()) {
    if (!target->is_number_integer())
      fail("countdown problem: meta field \"target\" must be an integer, found ", json_brief(*target));
    spec.target = target->get<int64_t>();
    return spec;
  }
  const std::string& a = problem.answer;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(a.data(), a.data() + a.size(), value);
  if (ec != std::errc() || end != a.data() + a.size() || a.empty())
    fail("countdown problem: no meta field \"target\", and the answer \"", a, "\" is not an integer");
  spec.target = value;
  return spec;
}

std::string problem_key(const Problem& problem) {
  const json& m = problem.meta;
  const auto task = m.find("task");
  if (task != m.end() && *task == "countdown") {
    CountdownSpec spec = countdown_spec(problem);
    std::sort(spec.numbers.begin(), spec.numbers.end());
    return cat("countdown:", join_numbers(spec.numbers), "=", spec.target);
  }
  if (task != m.end() && *task == "arithmetic" && m.contains("expression") && m["expression"].is_string())
    return cat("arithmetic:", m["expression"].get<std::string>());
  return "prompt:" + problem.prompt;
}

bool is_heldout(const Problem& problem) {
  return (mix64(fnv1a64(problem_key(problem))) >> 60) == 0;
}

Problem training_problem(const TaskConfig& task, uint64_t seed, uint64_t index) {
  task.validate();
  SplitMix64 rng(mix64(seed) ^ mix64(index * kGolden + 1));
  for (;;) {
    Problem p = generate(task, rng);
    if (!is_heldout(p)) return p;
  }
}

std::vector<Problem> make_problems(const TaskConfig& task, int64_t n, uint64_t seed, uint64_t first) {
  std::vector<Problem> out;
  out.reserve(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) out.push_back(training_problem(task, seed, first + uint64_t(i)));
  return out;
}

std::vector<Problem> heldout_problems(const TaskConfig& task, int64_t n) {
  task.validate();
  std::vector<Problem> out;
  std::unordered_set<std::string> seen;
  // About 16 candidates per kept problem, more once duplicates become common; this bound is only reached
  // when the problem space is too small.
  const int64_t max_candidates = 1000 * std::max<int64_t>(n, 1);
  for (int64_t k = 0; int64_t(out.size()) < n; ++k) {
    if (k == max_candidates)
      fail(task_name(task.kind), " task: found only ", out.size(), " distinct held-out problems of the ", n,
           " asked for in ", max_candidates, " candidates; the difficulty allows too few problems");
    SplitMix64 rng(mix64(kHeldoutDomain ^ mix64(uint64_t(k))));
    Problem p = generate(task, rng);
    if (is_heldout(p) && seen.insert(problem_key(p)).second) out.push_back(std::move(p));
  }
  return out;
}

std::vector<Problem> parse_problems_jsonl(std::string_view text, const std::string& origin) {
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  std::vector<Problem> problems;
  int64_t line = 0;
  for (size_t start = 0; start <= text.size();) {
    const size_t newline = std::min(text.find('\n', start), text.size());
    const std::string_view content = text.substr(start, newline - start);
    ++line;
    if (!jsonl_blank(content)) problems.push_back(parse_problem_line(content, line, origin));
    start = newline + 1;
  }
  if (problems.empty())
    fail(origin, ": no problems (", text.empty() ? "the file is empty" : "only blank lines", ")");
  return problems;
}

std::vector<Problem> read_problems_jsonl(const std::filesystem::path& path) {
  return parse_problems_jsonl(read_text_file(path), path.string());
}

}  // namespace r1
