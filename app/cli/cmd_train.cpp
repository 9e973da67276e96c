// r1wb train sft: supervised fine-tuning from a JSONL file, with progress on stderr.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/train/sft_run.h"
#include "interrupt.h"

namespace r1::cli {

namespace {

int train_sft(const ArgList& argv) {
  const Args args(argv,
                  {"model", "data", "steps", "lr", "batch", "seq", "device", "out", "metrics-jsonl",
                   "grad-accum", "warmup", "save-every", "resume", "seed", "weight-decay", "max-grad-norm",
                   "min-lr-ratio", "chat-template", "gpus"},
                  {"recompute", "quiet"});
  SftRunOptions o;
  o.resume = args.get("resume");
  if (o.resume.empty()) o.model_dir = args.require("model");
  o.data_path = args.require("data");
  o.steps = args.get_int("steps", 100);
  o.lr = args.get_double("lr", 1e-5);
  o.batch = args.get_int("batch", 8);
  o.seq = args.get_int("seq", 512);
  o.device = parse_train_device(args.get("device", "cpu"));
  o.gpus = args.get_int("gpus", 1);
  o.out_dir = args.get("out");
  o.metrics_jsonl = args.get("metrics-jsonl");
  o.grad_accum = args.get_int("grad-accum", 1);
  o.warmup = args.get_int("warmup", 0);
  o.save_every = args.get_int("save-every", 0);
  o.seed = uint64_t(args.get_int("seed", 0));
  o.optimizer.weight_decay = args.get_double("weight-decay", 0.0);
  o.optimizer.max_grad_norm = args.get_double("max-grad-norm", 1.0);
  o.min_lr_ratio = args.get_double("min-lr-ratio", 0.1);
  o.recompute = args.has("recompute");
  if (args.has("chat-template")) {
    const std::string v = args.get("chat-template");
    if (v != "on" && v != "off") fail("option --chat-template: \"", v, "\" is not on or off");
    o.chat_template = v == "on";
  }
  const bool quiet = args.has("quiet");
  o.on_log = [&](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  o.on_step = [&](const SftStepMetrics& m) {
    if (!quiet)
      std::fprintf(stderr, "step %lld/%lld  loss %.4f  lr %.3g  grad norm %.3f  %.0f tok/s\n",
                   static_cast<long long>(m.step), static_cast<long long>(m.total_steps), m.loss, m.lr,
                   m.grad_norm, m.tokens_per_s);
  };
  SftRunResult r;
  {
    const InterruptGuard interrupt;
    o.cancel = interrupt.flag();
    r = run_sft(o);
  }
  std::printf(
      "{\"first_step\": %lld, \"last_step\": %lld, \"final_loss\": %.6f, \"checkpoint\": \"%s\", "
      "\"cancelled\": %s}\n",
      static_cast<long long>(r.first_step), static_cast<long long>(r.last_step),
      r.losses.empty() ? 0.0 : r.losses.back(), r.last_checkpoint.string().c_str(),
      r.cancelled ? "true" : "false");
  return r.cancelled ? 130 : 0;
}

}  // namespace

int cmd_train(const ArgList& argv) {
  if (argv.empty()) fail("train needs a kind: sft or grpo");
  const ArgList rest(argv.begin() + 1, argv.end());
  if (argv[0] == "sft") return train_sft(rest);
  if (argv[0] == "grpo") return train_grpo(rest);
  fail("unknown training kind \"", argv[0], "\" (sft, grpo)");
}

}  // namespace r1::cli
