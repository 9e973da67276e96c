// r1wb: the workbench's command line. Every error exits non-zero with one line on stderr.
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <new>
#include <string>

#include "commands.h"
#include "engine/core/error.h"
#include "engine/grpo/tasks.h"

namespace {

const char* kUsage =
    "usage: r1wb <command> [options]\n"
    "commands:\n"
    "  info      --model DIR [--json]\n"
    "  logits    --model DIR --ids 1,2,3 --out FILE.npy [--device cpu|cuda] [--mla-path "
    "auto|expanded|absorbed]\n"
    "  generate  --model DIR (--ids 1,2,3 | --prompt TEXT) [--max-new-tokens N] [--greedy | --temperature T\n"
    "            --top-k K --top-p P --min-p P --repetition-penalty R --seed S] [--chat] [--print-ids]\n"
    "            [--device cpu|cuda] [--mla-path auto|expanded|absorbed]\n"
    "  convert   --model DIR --out DIR [--dtype bf16|f16|f32]   (a Hugging Face folder transformers loads)\n"
    "  train sft --model DIR --data FILE.jsonl [--steps N] [--lr X] [--batch B] [--seq L] [--device "
    "cpu|cuda]\n"
    "            [--out DIR] [--metrics-jsonl FILE] [--grad-accum N] [--warmup N] [--save-every N]\n"
    "            [--resume DIR] [--seed S] [--weight-decay W] [--max-grad-norm G] [--recompute]\n"
    "            [--chat-template on|off] [--quiet] [--gpus N (data-parallel; --batch splits over them)]\n"
    "  train grpo --preset demo (GRPO from r1-tiny's SFT checkpoint on easy200, CPU, minutes) or\n"
    "  train grpo --model DIR (--task countdown|arithmetic [--difficulty D] | --data F.jsonl)\n"
    "            (D: {difficulties})\n"
    "            [--group-size G] [--prompts-per-step P] [--max-completion N] [--beta B]\n"
    "            [--loss grpo|dr_grpo|dapo|bnpo] [--steps N] [--lr X] [--mu M] [--device cpu|cuda] [--out "
    "DIR]\n"
    "            [--metrics-jsonl F] [--store F.sqlite] [--resume RUN|DIR] [--rewards name:w,..]\n"
    "            [--epsilon-low E] [--epsilon-high E] [--dynamic-sampling] [--mask-truncated]\n"
    "            [--gpus N (data-parallel over GPUs 0..N-1; the prompts per step split over them)]\n"
    "            [--config F.json] [--save-config F.json]   (a run's stored config re-launches it)\n"
    "  distill   --teacher DIR --student DIR --traces OUT.jsonl [--task T] [--difficulty D]\n"
    "            [--prompts N|FILE.jsonl] [--samples K] [--max-completion N] [--temperature T] [--steps N]\n"
    "            [--lr X] [--batch B] [--seq L] [--out DIR] [--device cpu|cuda]\n"
    "  eval      --model DIR --task countdown|arithmetic [--n 500] [--device cpu|cuda] [--data F.jsonl]\n"
    "  synth     --task countdown|arithmetic [--difficulty D] --n N --out F.jsonl\n"
    "            [--seed S]   writes worked solutions of training problems as SFT lines\n"
    "  serve     --model DIR [--host 127.0.0.1] [--port 8080 (0: any free)] [--api-key K]\n"
    "            [--reasoning-format deepseek|none] [--parallel 16] [--context N] [--device cpu|cuda]\n"
    "            an OpenAI-compatible HTTP server: /v1/models, /v1/chat/completions, /v1/completions\n"
    "  tokenize  --tokenizer FILE|DIR (--text TEXT | --text-file F) [--decode]\n"
    "            prints the ids as a JSON list; --decode adds a second line, the decoded text as a JSON "
    "string\n"
    "  bench decode   --model DIR | --shape NAME [--device cpu|cuda] [--batch 1,64] [--new-tokens N]\n"
    "                 [--prompt-tokens N] [--prefill-tokens N] [--context N (the runtime's, as chat sets "
    "it)]\n"
    "                 [--temperature T [--top-p P]] (greedy without) [--steps-per-call N (decode steps a "
    "call, 1-8; by default as generation runs them: 8 on CUDA, 1 on the CPU)]\n"
    "  bench ops      --model DIR | --shape NAME [--batch 1,64] [--prefill-tokens N] [--context N]\n"
    "  bench train    --model DIR | --shape NAME [--device cpu|cuda] [--batch B] [--seq L] [--steps N]\n"
    "                 [--recompute] [--gpus N (each GPU a batch of B rows; gradients summed by NCCL)]\n"
    "  bench grpo     --model DIR | --shape NAME [--device cpu|cuda] [--prompts 16] [--group-size 8]\n"
    "                 [--new-tokens 512] [--prompt-tokens 64] [--micro-batch 16] [--gpus N (prompts split)]\n"
    "  bench tokenize [--tokenizer FILE|DIR] [--text-file F | --megabytes N] [--repeats R] [--write-text "
    "F]\n";

// The usage text with the task presets filled in from difficulty_names().
std::string usage() {
  std::string text = kUsage;
  const std::string mark = "{difficulties}";
  text.replace(text.find(mark), mark.size(), r1::difficulty_list("|"));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace r1::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(usage().c_str(), argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::puts("r1wb " R1WB_VERSION);
    return 0;
  }
  const std::map<std::string, std::function<int(const ArgList&)>> commands = {
      {"info", cmd_info},         {"logits", cmd_logits}, {"generate", cmd_generate},
      {"tokenize", cmd_tokenize}, {"bench", cmd_bench},   {"convert", cmd_convert},
      {"train", cmd_train},       {"eval", cmd_eval},     {"distill", cmd_distill},
      {"synth", cmd_synth},       {"serve", cmd_serve},
  };
  const auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    std::fprintf(stderr, "r1wb: error: unknown command \"%s\"\n%s", argv[1], usage().c_str());
    return 2;
  }
  try {
    return it->second(ArgList(argv + 2, argv + argc));
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "r1wb: error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1wb: error: %s\n", e.what());
  }
  return 1;
}
