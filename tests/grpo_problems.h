#pragma once
// Hand-made problems for the reward and trace suites.
#include <string>
#include <vector>

#include "engine/grpo/tasks.h"

namespace r1::test {

inline Problem countdown_problem(std::vector<int64_t> numbers, int64_t target) {
  Problem p;
  p.prompt = "countdown";
  p.answer = std::to_string(target);
  p.meta = {{"task", "countdown"}, {"numbers", numbers}, {"target", target}};
  return p;
}

}  // namespace r1::test
