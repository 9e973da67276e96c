#pragma once
// The r1wb subcommands. Each takes the arguments after its name and returns the process exit code;
// errors are thrown as r1::Error and reported by main.
#include <string>
#include <vector>

namespace r1::cli {

using ArgList = std::vector<std::string>;

int cmd_info(const ArgList& args);
int cmd_logits(const ArgList& args);
int cmd_generate(const ArgList& args);
int cmd_convert(const ArgList& args);
int cmd_tokenize(const ArgList& args);
int cmd_bench(const ArgList& args);
int bench_decode(const ArgList& args);
int bench_ops(const ArgList& args);
int bench_tokenize(const ArgList& args);

}  // namespace r1::cli
