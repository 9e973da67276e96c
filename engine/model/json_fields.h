#pragma once
// Typed access to the fields of a JSON object (config.json and its sub-objects) with errors that name the
// file and the field: missing, wrong type, out of range.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/core/error.h"

namespace r1 {

struct JsonFields {
  const nlohmann::json& j;
  const std::string& origin;

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail(origin, ": field \"", field, "\" ", what);
  }

  const nlohmann::json* get(const std::string& field) const {
    const auto it = j.find(field);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }

  int64_t integer(const std::string& field, int64_t fallback, bool required = false, int64_t min = 1) const {
    const nlohmann::json* v = get(field);
    if (!v) {
      if (required) bad(field, "is missing");
      return fallback;
    }
    if (!v->is_number_integer()) bad(field, cat("must be an integer, found ", v->dump()));
    const int64_t x = v->get<int64_t>();
    if (x < min) bad(field, cat("must be at least ", min, ", found ", x));
    return x;
  }

  double number(const std::string& field, double fallback) const {
    const nlohmann::json* v = get(field);
    if (!v) return fallback;
    if (!v->is_number()) bad(field, cat("must be a number, found ", v->dump()));
    return v->get<double>();
  }

  bool boolean(const std::string& field, bool fallback) const {
    const nlohmann::json* v = get(field);
    if (!v) return fallback;
    if (!v->is_boolean()) bad(field, cat("must be true or false, found ", v->dump()));
    return v->get<bool>();
  }

  std::string string(const std::string& field, const std::string& fallback) const {
    const nlohmann::json* v = get(field);
    if (!v) return fallback;
    if (!v->is_string()) bad(field, cat("must be a string, found ", v->dump()));
    return v->get<std::string>();
  }
};

}  // namespace r1
