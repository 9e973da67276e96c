#include "distill.h"

#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/runtime/runtime.h"
#include "engine/tokenizer/tokenizer.h"
#include "grpo_run.h"
#include "rewards.h"
#include "rollout.h"

namespace r1 {

DistillResult run_distill(const DistillOptions& o) {
  const auto log = [&](const std::string& s) {
    if (o.on_log) o.on_log(s);
  };
  if (o.prompts < 1 || o.samples_per_prompt < 1 || o.max_completion < 1)
    fail("distill needs positive prompts, samples per prompt and max completion");
  if (o.traces_jsonl.empty()) fail("distill needs a file for the kept traces");
  const auto teacher = load_model(o.teacher_dir);
  const auto tokenizer = Tokenizer::load(o.teacher_dir);
  const TaskConfig task = TaskConfig::preset(o.task, o.difficulty);
  std::vector<Problem> problems =
      o.prompts_path.empty() ? make_problems(task, o.prompts, o.seed) : read_problems_jsonl(o.prompts_path);
  if (int64_t(problems.size()) > o.prompts) problems.resize(size_t(o.prompts));
  const int64_t G = o.samples_per_prompt, batch_prompts = std::max<int64_t>(1, 256 / G);
  SamplingParams sampling;
  sampling.temperature = o.temperature;
  DistillResult result;
  std::vector<std::string> lines;
  for (size_t p0 = 0; p0 < problems.size(); p0 += size_t(batch_prompts)) {
    const size_t p1 = std::min(problems.size(), p0 + size_t(batch_prompts));
    std::vector<std::vector<int32_t>> prompts;
    int64_t longest = 0;
    for (size_t p = p0; p < p1; ++p) {
      prompts.push_back(encode_prompt(o.teacher_dir, *tokenizer, problems[p].prompt));
      longest = std::max<int64_t>(longest, int64_t(prompts.back().size()));
    }
    RuntimeOptions ro;
    ro.device = rollout_device(o.device);
    ro.max_sequences = int(int64_t(prompts.size()) * G);
    ro.max_context = longest + o.max_completion + 1;
    auto rt = create_runtime(teacher, ro);
    const RolloutBatch gen =
        generate_rollouts(*rt, prompts, G, o.max_completion, sampling, o.seed + p0, teacher->stop_ids);
    for (size_t p = p0; p < p1; ++p) {
      bool any = false;
      for (int64_t j = 0; j < G; ++j) {
        const size_t i = (p - p0) * size_t(G) + size_t(j);
        ++result.generated;
        if (gen.truncated[i]) continue;
        const std::string text = tokenizer->decode(gen.completions[i], true);
        if (!is_correct(problems[p], Completion::from_text(text))) continue;
        lines.push_back(nlohmann::json{{"prompt", problems[p].prompt}, {"completion", text}}.dump());
        ++result.kept;
        any = true;
      }
      result.prompts_with_a_kept_trace += any ? 1 : 0;
    }
    log(cat("teacher: ", p1, "/", problems.size(), " prompts, ", result.kept, " of ", result.generated,
            " traces kept"));
  }
  if (lines.empty())
    fail("the teacher answered none of the ", problems.size(), " problems correctly; nothing to distill");
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  write_text_file_atomic(o.traces_jsonl, text);
  SftRunOptions sft = o.sft;
  sft.model_dir = o.student_dir;
  sft.data_path = o.traces_jsonl;
  sft.device = o.device;
  if (!sft.on_log) sft.on_log = o.on_log;
  result.sft = run_sft(sft);
  return result;
}

}  // namespace r1
