#include "args.h"

#include <cerrno>
#include <cstdlib>

#include "engine/core/error.h"

namespace r1::cli {

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_options,
           const std::set<std::string>& flag_options) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0) fail("unexpected argument \"", a, "\"");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (flag_options.count(name)) {
      if (inline_value) fail("option --", name, " takes no value");
      flags_.insert(name);
    } else if (value_options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) fail("option --", name, " needs a value");
        value = argv[++i];
      }
      if (values_.count(name)) fail("option --", name, " is given twice");
      values_[name] = value;
    } else {
      std::string known;
      for (const auto& o : value_options) known += " --" + o;
      for (const auto& o : flag_options) known += " --" + o;
      fail("unknown option --", name, " (options:", known, ")");
    }
  }
}

bool Args::has(const std::string& name) const {
  return flags_.count(name) || values_.count(name);
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) fail("option --", name, " is required");
  return it->second;
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (errno || end == it->second.c_str() || *end)
    fail("option --", name, ": \"", it->second, "\" is not an integer");
  return v;
}

double Args::get_double(const std::string& name, double fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (errno || end == it->second.c_str() || *end)
    fail("option --", name, ": \"", it->second, "\" is not a number");
  return v;
}

std::vector<int64_t> Args::get_list(const std::string& name, const std::vector<int64_t>& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : parse_int_list(it->second, name);
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option) {
  std::vector<int64_t> out;
  size_t i = 0;
  while (i <= text.size()) {
    const size_t comma = text.find(',', i);
    const std::string item = text.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || errno || *end) fail("option --", option, ": \"", item, "\" is not an integer");
    out.push_back(v);
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return out;
}

}  // namespace r1::cli
