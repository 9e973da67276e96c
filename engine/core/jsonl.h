#pragma once
// Small pieces every JSONL reader shares: where a line is (for errors), blank lines, and a value quoted in a
// message, cut short so that one bad line cannot flood it.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "error.h"

namespace r1 {

inline std::string jsonl_where(std::string_view origin, int64_t line) {
  return origin.empty() ? cat("line ", line) : cat(origin, ": line ", line);
}

inline bool jsonl_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

inline std::string json_brief(const nlohmann::json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace r1
