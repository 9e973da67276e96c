#pragma once
// Command-line options of one r1wb subcommand: `--name value` and `--flag`. Unknown or repeated options
// and missing values are errors naming the option.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace r1::cli {

class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_options,
       const std::set<std::string>& flag_options);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::string require(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  std::vector<int64_t> get_list(const std::string& name, const std::vector<int64_t>& fallback = {}) const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& option);

}  // namespace r1::cli
