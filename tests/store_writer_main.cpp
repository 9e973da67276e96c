// store_writer STORE PROMPTS GROUP TOKENS [MAX_STEPS]
// Begins a run in STORE through StoreRecorder and records steps 1, 2, ... until killed (or MAX_STEPS), each
// with PROMPTS x GROUP rollouts of TOKENS tokens, and a checkpoint after every fifth step. Prints "run <id>",
// then "step <n>" once step n is committed, flushing each line, so that a test killing it knows what must
// have survived. What tst_store_crash checks a rollout against: tokens are {step, prompt_index,
// group_index, 3, 4, ...}, logprobs[i] = -i / 8, reward = prompt_index + group_index / 10.
#include <QCoreApplication>
#include <cstdio>
#include <exception>
#include <string>

#include "core/store_recorder.h"

namespace {

r1::StepRecord make_step(int64_t step, int prompts, int group, int tokens) {
  r1::StepRecord s;
  s.step = step;
  s.metrics = {{"step", step}, {"loss", 1.0 / double(step)}, {"attempt", 1}};
  for (int p = 0; p < prompts; ++p)
    for (int g = 0; g < group; ++g) {
      r1::RolloutRecord r;
      r.prompt_index = p;
      r.group_index = g;
      r.prompt = "What is " + std::to_string(p) + " + " + std::to_string(step) + "?";
      r.thinking = "Adding them.";
      r.answer = std::to_string(p + step);
      r.rewards = {{"accuracy", 1.0}, {"format", 0.5}};
      r.reward = p + g / 10.0;
      r.advantage = g - (group - 1) / 2.0;
      r.truncated = g == 0;
      for (int i = 0; i < tokens; ++i) {
        r.tokens.push_back(i == 0 ? int32_t(step) : i == 1 ? p : i == 2 ? g : i);
        r.logprobs.push_back(-float(i) / 8);
      }
      s.rollouts.push_back(std::move(r));
    }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);  // the SQLite driver is a plugin, found through the application
  if (argc < 5) {
    std::fprintf(stderr, "usage: store_writer STORE PROMPTS GROUP TOKENS [MAX_STEPS]\n");
    return 2;
  }
  try {
    const int prompts = std::stoi(argv[2]);
    const int group = std::stoi(argv[3]);
    const int tokens = std::stoi(argv[4]);
    const int64_t max_steps = argc > 5 ? std::stoll(argv[5]) : 100000;
    if (prompts < 1 || group < 1 || tokens < 3) {
      std::fprintf(stderr, "store_writer: PROMPTS and GROUP must be at least 1, TOKENS at least 3\n");
      return 2;
    }
    r1::app::StoreRecorder recorder(QString::fromLocal8Bit(argv[1]));
    const int64_t run = recorder.begin_run("grpo", "store-writer", {{"prompts", prompts}, {"group", group}});
    std::printf("run %lld\n", static_cast<long long>(run));
    std::fflush(stdout);
    for (int64_t step = 1; step <= max_steps; ++step) {
      recorder.record_step(run, make_step(step, prompts, group, tokens));
      std::printf("step %lld\n", static_cast<long long>(step));
      std::fflush(stdout);
      if (step % 5 == 0) recorder.record_checkpoint(run, step, "checkpoints/step-" + std::to_string(step));
    }
    recorder.finish_run(run, "finished");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
