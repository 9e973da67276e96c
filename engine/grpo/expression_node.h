#pragma once
// A Countdown (sub)expression while it is built: its value and its text, parenthesised where it is used as an
// operand of a larger one. Shared by the problem generator and the trace synthesizer, which must write the
// same kind of equation.
#include <cstdint>
#include <string>

namespace r1 {

struct ExpressionNode {
  int64_t value = 0;
  std::string text;
  bool compound = false;  // built from an operation, not a given number
};

inline std::string operand_text(const ExpressionNode& n) {
  return n.compound ? "(" + n.text + ")" : n.text;
}

}  // namespace r1
