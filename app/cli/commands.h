#pragma once
// The r1wb subcommands. Each takes the arguments after its name and returns the process exit code;
// errors are thrown as r1::Error and reported by main.
#include <memory>
#include <string>
#include <vector>

namespace r1 {
struct Model;
}

namespace r1::cli {

class Args;

using ArgList = std::vector<std::string>;

int cmd_info(const ArgList& args);
int cmd_logits(const ArgList& args);
int cmd_generate(const ArgList& args);
int cmd_convert(const ArgList& args);
int cmd_tokenize(const ArgList& args);
int cmd_bench(const ArgList& args);
int cmd_train(const ArgList& args);
int train_grpo(const ArgList& args);
int cmd_eval(const ArgList& args);
int cmd_distill(const ArgList& args);
int cmd_synth(const ArgList& args);
int cmd_serve(const ArgList& args);
int bench_train(const ArgList& args);
int bench_grpo(const ArgList& args);
int bench_decode(const ArgList& args);
int bench_ops(const ArgList& args);
int bench_tokenize(const ArgList& args);
int bench_serve(const ArgList& args);
// The model a benchmark runs: --model DIR, or random weights of --shape NAME (--dtype bf16|f16|f32).
std::shared_ptr<const Model> bench_model(const Args& args, std::string* label);

}  // namespace r1::cli
