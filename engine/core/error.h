#pragma once
// Every engine failure is an r1::Error whose message a person can act on: which file, tensor or field is
// wrong, and what was expected. The engine never exits the process.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace r1 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Raised when memory for a model, cache or run does not fit; the message carries the planner's breakdown.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(cat(std::forward<Args>(args)...));
}

}  // namespace r1
