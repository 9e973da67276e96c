#include "engine/grpo/rewards.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "engine/core/error.h"

namespace r1 {

namespace {

constexpr std::string_view kSpace = " \t\r\n";
constexpr std::string_view kOpenThink = "<think>", kCloseThink = "</think>";

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

size_t count_of(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// --- Exact rationals ---

struct Rational {
  int64_t num = 0, den = 1;
};

// Every stored magnitude stays below 2^62, so negation and gcd never meet INT64_MIN and the products of
// two reduced terms are checked by the overflow builtins alone.
constexpr int64_t kLimit = int64_t(1) << 62;

std::optional<Rational> reduced(int64_t num, int64_t den) {
  if (num == INT64_MIN || den == INT64_MIN) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  const int64_t g = std::gcd(num, den);
  if (g > 1) {
    num /= g;
    den /= g;
  }
  if (num <= -kLimit || num >= kLimit || den >= kLimit) return std::nullopt;
  return Rational{num, den};
}

std::optional<Rational> add(Rational a, Rational b) {
  const int64_t g = std::gcd(a.den, b.den);
  int64_t x = 0, y = 0, num = 0, den = 0;
  if (__builtin_mul_overflow(a.num, b.den / g, &x) || __builtin_mul_overflow(b.num, a.den / g, &y) ||
      __builtin_add_overflow(x, y, &num) || __builtin_mul_overflow(a.den, b.den / g, &den))
    return std::nullopt;
  return reduced(num, den);
}

std::optional<Rational> multiply(Rational a, Rational b) {
  const int64_t g1 = std::max<int64_t>(std::gcd(a.num, b.den), 1),
                g2 = std::max<int64_t>(std::gcd(b.num, a.den), 1);
  int64_t num = 0, den = 0;
  if (__builtin_mul_overflow(a.num / g1, b.num / g2, &num) ||
      __builtin_mul_overflow(a.den / g2, b.den / g1, &den))
    return std::nullopt;
  return reduced(num, den);
}

// Recursive descent over
//   expression := term (('+' | '-') term)*
//   term       := factor (('*' | '/') factor)*
//   factor     := '-' factor | '(' expression ')' | integer
// A syntax error stops the parse; an undefined value (division by zero, overflow) only marks the result, so
// that a well-formed expression is told apart from text that is not one.
class ExpressionParser {
 public:
  explicit ExpressionParser(std::string_view text) : text_(text) {}

  std::optional<ExpressionValue> parse() {
    const Rational value = expression();
    skip_space();
    if (syntax_error_ || pos_ != text_.size()) return std::nullopt;
    result_.defined = defined_;
    if (defined_) {
      result_.numerator = value.num;
      result_.denominator = value.den;
    }
    return std::move(result_);
  }

 private:
  static constexpr int kMaxDepth = 100;

  void skip_space() {
    while (pos_ < text_.size() && kSpace.find(text_[pos_]) != std::string_view::npos) ++pos_;
  }

  bool take(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Rational undefined() {
    defined_ = false;
    return {};
  }

  Rational checked(std::optional<Rational> r) { return r ? *r : undefined(); }

  Rational expression() {
    Rational value = term();
    while (!syntax_error_) {
      if (take('+')) {
        const Rational rhs = term();
        value = checked(add(value, rhs));
      } else if (take('-')) {
        const Rational rhs = term();
        value = checked(add(value, {-rhs.num, rhs.den}));
      } else {
        break;
      }
    }
    return value;
  }

  Rational term() {
    Rational value = factor();
    while (!syntax_error_) {
      if (take('*')) {
        const Rational rhs = factor();
        value = checked(multiply(value, rhs));
      } else if (take('/')) {
        const Rational rhs = factor();
        value = rhs.num == 0 ? undefined() : checked(multiply(value, {rhs.den, rhs.num}));
      } else {
        break;
      }
    }
    return value;
  }

  Rational factor() {
    if (++depth_ > kMaxDepth) return syntax_error();
    Rational value;
    if (take('-')) {
      const Rational inner = factor();
      value = {-inner.num, inner.den};
    } else if (take('(')) {
      value = expression();
      if (!syntax_error_ && !take(')')) value = syntax_error();
    } else {
      value = integer();
    }
    --depth_;
    return value;
  }

  Rational integer() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    if (pos_ == start) return syntax_error();
    constexpr size_t kMaxDigits = 15;
    if (pos_ - start > kMaxDigits) return undefined();
    int64_t value = 0;
    std::from_chars(text_.data() + start, text_.data() + pos_, value);
    result_.numbers.push_back(value);
    return {value, 1};
  }

  Rational syntax_error() {
    syntax_error_ = true;
    return {};
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool syntax_error_ = false, defined_ = true;
  ExpressionValue result_;
};

// --- Answer extraction ---

std::string_view last_line(std::string_view text) {
  text = trim(text);
  const size_t newline = text.find_last_of('\n');
  return trim(newline == std::string_view::npos ? text : text.substr(newline + 1));
}

// The last number written in `text`, as a normalised integer ("-1095", "0"); nullopt when there is none or
// the last one has a non-zero fractional part. "1,234" is one number; a minus sign counts only where it
// cannot be a subtraction (not right after a digit, letter or closing parenthesis).
std::optional<std::string> last_integer(std::string_view s) {
  struct Number {
    bool negative = false, fractional = false;
    std::string digits;
  };
  std::optional<Number> last;
  for (size_t i = 0; i < s.size();) {
    if (!is_digit(s[i])) {
      ++i;
      continue;
    }
    Number n;
    const size_t start = i;
    while (i < s.size() && is_digit(s[i])) n.digits += s[i++];
    while (i + 3 < s.size() && s[i] == ',' && all_digits(s.substr(i + 1, 3)) &&
           (i + 4 == s.size() || !is_digit(s[i + 4]))) {
      n.digits += s.substr(i + 1, 3);
      i += 4;
    }
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
      ++i;
      while (i < s.size() && is_digit(s[i])) n.fractional = n.fractional || s[i++] != '0';
    }
    if (start > 0 && s[start - 1] == '.') n.fractional = true;  // ".5"
    if (start > 0 && s[start - 1] == '-') {
      const char before = start > 1 ? s[start - 2] : ' ';
      n.negative = !(std::isalnum(static_cast<unsigned char>(before)) || before == ')');
    }
    last = std::move(n);
  }
  if (!last || last->fractional) return std::nullopt;
  const size_t nonzero = last->digits.find_first_not_of('0');
  if (nonzero == std::string::npos) return "0";
  return (last->negative ? "-" : "") + last->digits.substr(nonzero);
}

// A decimal number, or a fraction of two, filling the whole text.
std::optional<double> numeric_value(std::string_view s) {
  const auto number = [](std::string_view t) -> std::optional<double> {
    double v = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v))
      return std::nullopt;
    return v;
  };
  if (const size_t slash = s.find('/'); slash != std::string_view::npos) {
    const auto num = number(s.substr(0, slash)), den = number(s.substr(slash + 1));
    if (!num || !den || *den == 0) return std::nullopt;
    return *num / *den;
  }
  return number(s);
}

bool uses_only(const std::vector<int64_t>& used, std::vector<int64_t> available) {
  for (const int64_t n : used) {
    const auto it = std::find(available.begin(), available.end(), n);
    if (it == available.end()) return false;
    available.erase(it);
  }
  return true;
}

bool is_bare_integer(std::string_view s) {
  s = trim(s);
  if (s.starts_with('-')) s = trim(s.substr(1));
  return all_digits(s);
}

std::string format_weight(double w) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, w);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(w);
}

std::string known_list() {
  std::string s;
  for (const std::string& n : RewardSet::known_names()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

Completion Completion::from_text(std::string text, bool truncated, int64_t tokens) {
  Completion c;
  c.truncated = truncated;
  c.tokens = tokens;
  const std::string_view all = text;
  const size_t close = all.find(kCloseThink);
  if (close == std::string_view::npos) {
    c.answer = trim(all);
  } else {
    std::string_view thought = trim(all.substr(0, close));
    if (thought.starts_with(kOpenThink)) thought = trim(thought.substr(kOpenThink.size()));
    c.thinking = thought;
    c.answer = trim(all.substr(close + kCloseThink.size()));
  }
  c.text = std::move(text);
  return c;
}

std::optional<ExpressionValue> evaluate_expression(std::string_view text) {
  return ExpressionParser(text).parse();
}

std::optional<std::string> answer_tag(std::string_view text) {
  constexpr std::string_view open = "<answer>", close = "</answer>";
  const size_t end = text.rfind(close);
  if (end == std::string_view::npos) return std::nullopt;
  const size_t begin = text.substr(0, end).rfind(open);
  if (begin == std::string_view::npos) return std::nullopt;
  return std::string(trim(text.substr(begin + open.size(), end - begin - open.size())));
}

std::optional<std::string> extract_math_answer(std::string_view text) {
  constexpr std::string_view boxed = "\\boxed{";
  if (const size_t at = text.rfind(boxed); at != std::string_view::npos) {
    int depth = 1;
    for (size_t i = at + boxed.size(); i < text.size(); ++i) {
      depth += text[i] == '{' ? 1 : text[i] == '}' ? -1 : 0;
      if (depth == 0) return std::string(trim(text.substr(at + boxed.size(), i - at - boxed.size())));
    }
  }
  if (const size_t at = text.rfind("####"); at != std::string_view::npos) {
    std::string_view rest = text.substr(at + 4);
    rest = trim(rest.substr(0, rest.find('\n')));
    if (!rest.empty()) return std::string(rest);
  }
  return std::nullopt;
}

std::string normalize_math_answer(std::string_view text) {
  std::string s;
  for (const char c : text)
    if (kSpace.find(c) == std::string_view::npos) s += c;
  if (s.starts_with("\\$"))
    s.erase(0, 2);
  else if (s.starts_with('$'))
    s.erase(0, 1);
  if (s.size() > 1 && s.back() == '.') s.pop_back();  // the end of a sentence: "#### 72."
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool grouping = s[i] == ',' && i > 0 && is_digit(s[i - 1]) && i + 3 < s.size() &&
                          all_digits(std::string_view(s).substr(i + 1, 3)) &&
                          (i + 4 == s.size() || !is_digit(s[i + 4]));
    if (!grouping) out += s[i];
  }
  const size_t dot = out.rfind('.');
  if (dot != std::string::npos && dot > 0 && is_digit(out[dot - 1]) && dot + 1 < out.size() &&
      out.find_first_not_of('0', dot + 1) == std::string::npos)
    out.resize(dot);
  return out;
}

double countdown_reward(const Problem& problem, const Completion& completion) {
  const CountdownSpec spec = countdown_spec(problem);
  const std::optional<std::string> tag = answer_tag(completion.answer);
  const std::string equation(tag ? trim(*tag) : last_line(completion.answer));
  if (equation.empty()) return 0.0;
  const size_t equals = equation.find('=');
  if (equals != std::string::npos && equation.find('=', equals + 1) != std::string::npos) return 0.0;
  const std::string_view lhs = std::string_view(equation).substr(0, equals);
  const std::string_view rhs =
      equals == std::string::npos ? std::string_view() : std::string_view(equation).substr(equals + 1);
  const std::optional<ExpressionValue> left = evaluate_expression(lhs);
  if (!left) return 0.0;
  if (equals == std::string::npos)
    return left->is_integer(spec.target) && uses_only(left->numbers, spec.numbers) ? 1.0 : 0.1;

  const std::optional<ExpressionValue> right = evaluate_expression(rhs);
  if (!right) return 0.0;
  // "expression = result" either way round; an equation between two expressions states no result.
  const bool right_is_result = is_bare_integer(rhs);
  if (!right_is_result && !is_bare_integer(lhs)) return 0.1;
  const ExpressionValue& expression = right_is_result ? *left : *right;
  const ExpressionValue& result = right_is_result ? *right : *left;
  const bool correct = expression.is_integer(spec.target) && result.is_integer(spec.target) &&
                       uses_only(expression.numbers, spec.numbers);
  return correct ? 1.0 : 0.1;
}

double arithmetic_reward(const Problem& problem, const Completion& completion) {
  const std::optional<std::string> reference = last_integer(problem.answer);
  if (!reference || trim(problem.answer).empty())
    fail("arithmetic reward: the problem's answer \"", problem.answer, "\" is not an integer");
  const std::optional<std::string> tag = answer_tag(completion.answer);
  const std::optional<std::string> given = last_integer(tag ? *tag : completion.answer);
  return given && *given == *reference ? 1.0 : 0.0;
}

double math_reward(const Problem& problem, const Completion& completion) {
  std::optional<std::string> given = extract_math_answer(completion.answer);
  if (!given) given = answer_tag(completion.answer);
  if (!given) return 0.0;
  const std::string a = normalize_math_answer(*given);
  const std::string b = normalize_math_answer(extract_math_answer(problem.answer).value_or(problem.answer));
  if (a.empty() || b.empty()) return 0.0;
  const std::optional<double> x = numeric_value(a), y = numeric_value(b);
  if (x && y) return std::abs(*x - *y) <= 1e-9 * std::max({1.0, std::abs(*x), std::abs(*y)}) ? 1.0 : 0.0;
  return a == b ? 1.0 : 0.0;
}

double format_reward(const Completion& completion) {
  if (completion.truncated) return 0.0;
  const std::string_view text = completion.text;
  if (count_of(text, kCloseThink) != 1) return 0.0;
  if (trim(text.substr(text.find(kCloseThink) + kCloseThink.size())).empty()) return 0.0;
  const size_t opens = count_of(text, kOpenThink);
  if (opens > 1) return 0.0;
  if (opens == 1 && text.find(kOpenThink) != text.find_first_not_of(kSpace)) return 0.0;
  return 1.0;
}

double overlong_penalty(int64_t tokens, int64_t max_tokens, int64_t cache) {
  if (max_tokens < 1) fail("length penalty: max_tokens must be at least 1, found ", max_tokens);
  if (cache < 1 || cache > max_tokens)
    fail("length penalty: the overlong cache must be in 1..max_tokens (1..", max_tokens, "), found ", cache);
  const int64_t free_until = max_tokens - cache;
  if (tokens <= free_until) return 0.0;
  if (tokens > max_tokens) return -1.0;
  return double(free_until - tokens) / double(cache);
}

bool is_correct(const Problem& problem, const Completion& completion) {
  const auto task = problem.meta.find("task");
  if (task != problem.meta.end() && *task == "countdown") return countdown_reward(problem, completion) == 1.0;
  if (task != problem.meta.end() && *task == "arithmetic")
    return arithmetic_reward(problem, completion) == 1.0;
  return math_reward(problem, completion) == 1.0;
}

bool well_formatted(const Completion& completion) {
  return format_reward(completion) == 1.0;
}

RewardSet::RewardSet(std::vector<RewardFn> functions) : functions_(std::move(functions)) {}

std::vector<std::string> RewardSet::known_names() {
  return {"countdown", "arithmetic", "math", "accuracy", "format", "length"};
}

RewardSet RewardSet::parse(std::string_view spec, const RewardOptions& options) {
  if (trim(spec).empty()) fail("reward spec is empty (known rewards: ", known_list(), ")");
  std::vector<RewardFn> functions;
  size_t item_number = 0;
  for (size_t start = 0; start <= spec.size();) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string_view item = trim(spec.substr(start, comma - start));
    start = comma + 1;
    ++item_number;
    if (item.empty()) fail("reward spec \"", spec, "\": item ", item_number, " is empty");
    const size_t colon = item.find(':');
    const std::string name(trim(item.substr(0, colon)));
    RewardFn f{name, 1.0, {}};
    if (colon != std::string_view::npos) {
      const std::string_view weight = trim(item.substr(colon + 1));
      const auto [end, ec] = std::from_chars(weight.data(), weight.data() + weight.size(), f.weight);
      if (weight.empty() || ec != std::errc() || end != weight.data() + weight.size() ||
          !std::isfinite(f.weight))
        fail("reward spec: item \"", item, "\": the weight \"", weight, "\" is not a number");
    }
    if (name == "countdown") {
      f.fn = countdown_reward;
    } else if (name == "arithmetic") {
      f.fn = arithmetic_reward;
    } else if (name == "math") {
      f.fn = math_reward;
    } else if (name == "accuracy") {
      f.fn = [](const Problem& p, const Completion& c) { return is_correct(p, c) ? 1.0 : 0.0; };
    } else if (name == "format") {
      f.fn = [](const Problem&, const Completion& c) { return format_reward(c); };
    } else if (name == "length") {
      if (options.max_tokens < 1)
        fail("reward spec: \"length\" needs the generation's max_tokens, which was not given");
      const int64_t max_tokens = options.max_tokens;
      const int64_t cache =
          options.overlong_cache > 0 ? options.overlong_cache : std::max<int64_t>(max_tokens / 5, 1);
      overlong_penalty(0, max_tokens, cache);  // rejects a cache longer than max_tokens now, not mid-run
      f.fn = [max_tokens, cache](const Problem&, const Completion& c) {
        return overlong_penalty(c.tokens, max_tokens, cache);
      };
    } else {
      fail("reward spec: unknown reward \"", name, "\" (known: ", known_list(), ")");
    }
    for (const RewardFn& g : functions)
      if (g.name == name) fail("reward spec: reward \"", name, "\" is given twice");
    functions.push_back(std::move(f));
  }
  return RewardSet(std::move(functions));
}

RewardScore RewardSet::score(const Problem& problem, const Completion& completion) const {
  RewardScore s;
  s.values.reserve(functions_.size());
  for (const RewardFn& f : functions_) {
    const double v = f.fn(problem, completion);
    s.values.emplace_back(f.name, v);
    s.total += f.weight * v;
  }
  return s;
}

std::string RewardSet::spec() const {
  std::string s;
  for (const RewardFn& f : functions_) s += cat(s.empty() ? "" : ",", f.name, ":", format_weight(f.weight));
  return s;
}

std::string default_reward_spec(TaskKind kind) {
  return kind == TaskKind::Countdown ? "countdown:1.0,format:0.2" : "arithmetic:1.0,format:0.2";
}

}  // namespace r1
