// r1wb train grpo and r1wb eval: reinforcement learning with verifiable rewards, and the held-out accuracy.
#include <QCoreApplication>
#include <QString>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>

#include "args.h"
#include "commands.h"
#include "core/app_settings.h"
#include "core/finetune_options.h"
#include "core/store_recorder.h"
#include "engine/core/error.h"
#include "engine/grpo/distill.h"
#include "engine/grpo/grpo_run.h"
#include "interrupt.h"

namespace r1::cli {
namespace {

const std::set<std::string> kGrpoValueOptions = {
    "model",          "task",        "difficulty", "data",  "rewards",     "group-size",  "prompts-per-step",
    "max-completion", "beta",        "loss",       "steps", "device",      "out",         "metrics-jsonl",
    "store",          "resume",      "lr",         "mu",    "micro-batch", "epsilon-low", "epsilon-high",
    "scale",          "temperature", "top-p",      "seed",  "warmup",      "save-every",  "weight-decay",
    "max-grad-norm",  "preset",      "gpus"};
const std::set<std::string> kGrpoFlags = {"dynamic-sampling", "mask-truncated", "quiet"};

// A config file names options as the run store's config does: group_size for --group-size.
std::string option_name(const std::string& key) {
  std::string name = key;
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

std::string config_key(const std::string& option) {
  std::string key = option;
  for (char& c : key)
    if (c == '-') c = '_';
  return key;
}

nlohmann::json read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("option --config: cannot read \"", path, "\"");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("config file ", path, " is not valid JSON: ", e.what());
  }
  if (!config.is_object()) fail("config file ", path, " must hold a JSON object of options");
  return config;
}

// --config FILE: the file's options, appended to the command line where the command line does not give them,
// so an option typed on the command line wins over the file.
ArgList with_config_file(const ArgList& argv, const std::set<std::string>& value_options) {
  const Args command_line(argv, value_options, kGrpoFlags);
  ArgList merged = argv;
  const std::string path = command_line.get("config");
  if (path.empty()) return merged;
  const nlohmann::json config = read_config_file(path);
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& value = it.value();
    const std::string name = option_name(key);
    const bool is_flag = kGrpoFlags.count(name) > 0;
    if (!is_flag && !kGrpoValueOptions.count(name)) {
      std::string known;
      for (const auto& o : kGrpoValueOptions) known += " " + config_key(o);
      for (const auto& o : kGrpoFlags) known += " " + config_key(o);
      fail("config file ", path, ": unknown key \"", key, "\" (keys:", known, ")");
    }
    if (command_line.has(name)) continue;
    if (is_flag) {
      if (!value.is_boolean()) fail("config file ", path, ": \"", key, "\" must be true or false");
      if (value.get<bool>()) merged.push_back("--" + name);
    } else if (value.is_string()) {
      merged.insert(merged.end(), {"--" + name, value.get<std::string>()});
    } else if (value.is_number()) {
      merged.insert(merged.end(), {"--" + name, value.dump()});  // dump() round-trips a double exactly
    } else {
      fail("config file ", path, ": \"", key, "\" must be a string or a number");
    }
  }
  return merged;
}

// The options a run starts with, defaults and preset resolved, keyed as `--config` reads them.
nlohmann::json effective_config(const GrpoRunOptions& o, const Args& args) {
  nlohmann::json c = {{"model", o.model_dir.string()},
                      {"task", o.task},
                      {"difficulty", o.difficulty},
                      {"data", o.data_path.string()},
                      {"rewards", o.rewards},
                      {"group_size", o.group_size},
                      {"prompts_per_step", o.prompts_per_step},
                      {"max_completion", o.max_completion},
                      {"steps", o.steps},
                      {"mu", o.mu},
                      {"micro_batch", o.micro_batch},
                      {"lr", o.lr},
                      {"warmup", o.warmup},
                      {"save_every", o.save_every},
                      {"beta", o.loss.beta},
                      {"epsilon_low", o.loss.epsilon_low},
                      {"epsilon_high", o.loss.epsilon_high},
                      {"loss", loss_aggregation_name(o.aggregation)},
                      {"scale", args.get("scale", "group")},
                      {"dynamic_sampling", o.dynamic_sampling},
                      {"mask_truncated", o.mask_truncated},
                      {"temperature", o.temperature},
                      {"top_p", o.top_p},
                      {"seed", o.seed},
                      {"weight_decay", o.optimizer.weight_decay},
                      {"max_grad_norm", o.optimizer.max_grad_norm},
                      {"device", train_device_name(o.device)},
                      {"gpus", o.gpus},
                      {"out", o.out_dir.string()},
                      {"metrics_jsonl", o.metrics_jsonl.string()}};
  for (const char* name : {"store", "resume"})
    if (args.has(name)) c[config_key(name)] = args.get(name);
  return c;
}

void write_config_file(const std::string& path, const nlohmann::json& config) {
  std::ofstream out(path, std::ios::trunc);
  out << config.dump(2) << "\n";
  out.flush();
  if (!out) fail("option --save-config: cannot write \"", path, "\"");
}

}  // namespace

int train_grpo(const ArgList& argv) {
  // --config FILE starts from a JSON file of options (a run's stored config re-launches it); --save-config
  // FILE writes the options the run would start with and exits.
  std::set<std::string> value_options = kGrpoValueOptions;
  value_options.insert({"config", "save-config"});
  const ArgList merged = with_config_file(argv, value_options);
  const Args args(merged, value_options, kGrpoFlags);
  // --preset demo: GRPO that a laptop runs in minutes and whose reward rises within its 50 steps: r1-tiny's
  // SFT checkpoint at step 500 (app::demoStartModelDir()) on easy200, the harder variant of its own (easy)
  // task with targets up to 200. Options given explicitly still win.
  const std::string preset = args.get("preset");
  if (!preset.empty() && preset != "demo") fail("option --preset: \"", preset, "\" is not a preset (demo)");
  const bool demo = preset == "demo";
  const auto pick = [&](const char* name, const char* normal, const char* demo_value) {
    return args.get(name, demo ? demo_value : normal);
  };
  GrpoRunOptions o;
  o.model_dir = args.get("model");
  o.task = pick("task", "countdown", "countdown");
  o.difficulty = pick("difficulty", "default", "easy200");
  o.data_path = args.get("data");
  o.rewards = args.get("rewards");
  o.group_size = args.get_int("group-size", 8);
  o.prompts_per_step = args.get_int("prompts-per-step", 16);
  o.max_completion = args.get_int("max-completion", demo ? 64 : 256);
  o.loss.beta = args.get_double("beta", 0.0);
  o.loss.epsilon_low = args.get_double("epsilon-low", 0.2);
  o.loss.epsilon_high = args.get_double("epsilon-high", demo ? 0.28 : o.loss.epsilon_low);
  o.aggregation = parse_loss_aggregation(pick("loss", "grpo", "dapo"));
  o.scale = parse_advantage_scale(args.get("scale", "group"));
  o.steps = args.get_int("steps", demo ? 50 : 100);
  o.mu = args.get_int("mu", 1);
  o.micro_batch = args.get_int("micro-batch", 0);
  o.lr = args.get_double("lr", demo ? 1e-4 : 1e-6);
  o.warmup = args.get_int("warmup", 0);
  o.save_every = args.get_int("save-every", 0);
  o.temperature = float(args.get_double("temperature", 1.0));
  o.top_p = float(args.get_double("top-p", 1.0));
  o.seed = uint64_t(args.get_int("seed", 0));
  o.optimizer.weight_decay = args.get_double("weight-decay", 0.0);
  o.optimizer.max_grad_norm = args.get_double("max-grad-norm", 1.0);
  o.dynamic_sampling = args.has("dynamic-sampling");
  o.mask_truncated = args.has("mask-truncated");
  o.device = parse_train_device(args.get("device", "cpu"));
  o.gpus = args.get_int("gpus", 1);
  o.out_dir = args.get("out");
  o.metrics_jsonl = args.get("metrics-jsonl");
  // Qt loads its SQLite driver only inside an application object; declared first so it outlives the store.
  int qt_argc = 1;
  char qt_name[] = "r1wb";
  char* qt_argv[] = {qt_name, nullptr};
  std::unique_ptr<QCoreApplication> qt_app;
  const auto ensure_qt = [&] {
    if (!QCoreApplication::instance()) qt_app = std::make_unique<QCoreApplication>(qt_argc, qt_argv);
  };
  if (o.model_dir.empty() && !args.has("resume")) {
    if (!demo) fail("missing option --model");
    ensure_qt();
    const app::DefaultModel builtin = app::resolveDefaultModel();
    if (builtin.origin != QStringLiteral("built-in r1-tiny"))
      fail("--preset demo needs the built-in r1-tiny (resources/models/r1-tiny); give --model DIR instead");
    o.model_dir = app::demoStartModelDir().toStdString();
  }
  if (args.has("save-config")) {
    write_config_file(args.get("save-config"), effective_config(o, args));
    return 0;
  }
  std::unique_ptr<app::StoreRecorder> recorder;
  if (args.has("store")) {
    ensure_qt();
    recorder = std::make_unique<app::StoreRecorder>(QString::fromStdString(args.get("store")));
    o.recorder = recorder.get();
  }
  if (args.has("resume")) {
    const std::string r = args.get("resume");
    const bool is_id = !r.empty() && r.find_first_not_of("0123456789") == std::string::npos;
    if (is_id) {
      if (!recorder) fail("option --resume: a run id needs --store");
      o.resume_run_id = std::stoll(r);
      const auto ckpt = recorder->last_checkpoint(o.resume_run_id);
      if (!ckpt) fail("run ", r, " in ", args.get("store"), " has no checkpoint to resume from");
      o.resume = ckpt->second;
    } else {
      o.resume = r;
    }
  }
  const bool quiet = args.has("quiet");
  o.on_log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  o.on_step = [&](const nlohmann::json& m) {
    if (!quiet)
      std::fprintf(stderr, "step %lld  reward %.3f  accuracy %.3f  len %.0f  kl %.4f  %.1f s\n",
                   static_cast<long long>(m["step"].get<int64_t>()), m["reward_mean"].get<double>(),
                   m["accuracy"].get<double>(), m["completion_len_mean"].get<double>(), m["kl"].get<double>(),
                   m["step_s"].get<double>());
  };
  GrpoRunResult r;
  {
    const InterruptGuard interrupt;
    o.cancel = interrupt.flag();
    r = run_grpo(o);
  }
  nlohmann::json out = {{"run_id", r.run_id},
                        {"first_step", r.first_step},
                        {"last_step", r.last_step},
                        {"checkpoint", r.last_checkpoint.string()},
                        {"cancelled", r.cancelled}};
  if (!r.metrics.empty()) out["last"] = r.metrics.back();
  std::printf("%s\n", out.dump().c_str());
  return r.cancelled ? 130 : 0;
}

int cmd_eval(const ArgList& argv) {
  const Args args(argv, {"model", "task", "difficulty", "n", "seed", "max-completion", "device", "data"}, {});
  const TaskConfig task =
      TaskConfig::preset(args.get("task", "countdown"), args.get("difficulty", "default"));
  if (args.has("seed") && args.get_int("seed", 0) != 0)
    fail("option --seed: the held-out set is fixed per task; it takes no seed");
  const int64_t n = args.get_int("n", 500);
  if (n < 1) fail("option --n: must be positive");
  const EvalResult e = evaluate(args.require("model"), task, n, args.get_int("max-completion", 256),
                                parse_train_device(args.get("device", "cpu")), args.get("data"));
  const nlohmann::json out = {{"task", task_name(task.kind)},
                              {"n", e.n},
                              {"accuracy", e.accuracy},
                              {"format_rate", e.format_rate},
                              {"mean_completion_tokens", e.mean_length}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace r1::cli

namespace r1::cli {

int cmd_distill(const ArgList& argv) {
  const Args args(
      argv,
      {"teacher", "student", "task", "difficulty", "prompts", "samples", "max-completion", "temperature",
       "seed", "device", "traces", "steps", "lr", "batch", "seq", "out", "metrics-jsonl"},
      {});
  DistillOptions o;
  o.teacher_dir = args.require("teacher");
  o.student_dir = args.require("student");
  o.task = args.get("task", "countdown");
  o.difficulty = args.get("difficulty", "default");
  const std::string prompts = args.get("prompts", "256");
  if (!prompts.empty() && prompts.find_first_not_of("0123456789") == std::string::npos) {
    o.prompts = std::stoll(prompts);
  } else {
    o.prompts_path = prompts;
    o.prompts = 1 << 30;
  }
  o.samples_per_prompt = args.get_int("samples", 4);
  o.max_completion = args.get_int("max-completion", 256);
  o.temperature = float(args.get_double("temperature", 0.7));
  o.seed = uint64_t(args.get_int("seed", 0));
  o.device = parse_train_device(args.get("device", "cpu"));
  o.traces_jsonl = args.require("traces");
  o.sft.steps = args.get_int("steps", 200);
  o.sft.lr = args.get_double("lr", 1e-4);
  o.sft.batch = args.get_int("batch", 8);
  o.sft.seq = args.get_int("seq", 512);
  o.sft.out_dir = args.get("out");
  o.sft.metrics_jsonl = args.get("metrics-jsonl");
  o.on_log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  const DistillResult r = run_distill(o);
  const nlohmann::json out = {{"generated", r.generated},
                              {"kept", r.kept},
                              {"prompts_with_a_kept_trace", r.prompts_with_a_kept_trace},
                              {"sft_last_step", r.sft.last_step},
                              {"sft_final_loss", r.sft.losses.empty() ? 0.0 : r.sft.losses.back()},
                              {"checkpoint", r.sft.last_checkpoint.string()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace r1::cli
