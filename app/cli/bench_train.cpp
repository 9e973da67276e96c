// r1wb bench train: training throughput (tokens/s, MFU against the GPU's dense bf16 peak) and memory, on a
// random batch where every token carries a loss term. Figures, not assertions.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/runtime/runtime.h"
#include "engine/train/data_parallel.h"
#include "engine/train/trainer.h"
#include "kernels/cpu/parallel.h"

#ifdef R1WB_HAVE_CUDA
#include "kernels/cuda/cuda_common.h"
#endif

namespace r1::cli {

int bench_train(const ArgList& argv) {
  const Args args(argv,
                  {"model", "shape", "device", "batch", "seq", "steps", "dtype", "peak-tflops", "threads",
                   "gpus", "lm-head-rows", "attention"},
                  {"recompute"});
  if (args.has("threads")) cpu::set_num_threads(int(args.get_int("threads", 1)));
  TrainerOptions to;
  to.device = parse_train_device(args.get("device", "cpu"));
  const bool cuda = to.device == TrainDevice::Cuda;
  to.max_batch = args.get_int("batch", cuda ? 8 : 1);
  to.max_seq = args.get_int("seq", cuda ? 1024 : 64);
  to.recompute = args.has("recompute");
  to.lm_head_chunk_rows = args.get_int("lm-head-rows", 0);  // 0: the planner's choice
  const std::string attention = args.get("attention", "flash");
  if (attention != "flash" && attention != "unfused")
    fail("option --attention: expected flash or unfused, got '", attention, "'");
  to.flash_attention = attention == "flash";
  const int64_t steps = args.get_int("steps", cuda ? 5 : 2);
  if (steps < 1) fail("option --steps: must be at least 1");
  const double peak_tflops = args.get_double("peak-tflops", 989.0);
  const int gpus = int(args.get_int("gpus", 1));
  std::string label;
  const auto model = bench_model(args, &label);
  // Each rank (GPU) trains its own batch of B rows; with several, the gradients are summed every step.
  run_ranks(gpus, to.device, [&](RankContext& ctx) {
    auto trainer = make_trainer(*model, to);
    trainer->set_gradient_sync(ctx.sync);

    TrainBatch batch;
    batch.B = to.max_batch, batch.L = to.max_seq;
    std::mt19937 rng(11u + unsigned(ctx.rank));
    std::uniform_int_distribution<int32_t> any(0, int32_t(model->config.vocab_size - 1));
    for (int64_t i = 0; i < batch.tokens(); ++i) {
      batch.ids.push_back(any(rng));
      batch.targets.push_back(any(rng));
      batch.weights.push_back(1.0f);
    }
    OptimizerHyper h;
    h.lr = 1e-5;
    const auto step = [&]() {
      CrossEntropyObjective ce(batch.weights.data(), batch.weight_sum() * double(ctx.ranks));
      if (ctx.sync) ctx.sync->reduce_in_next_backward();
      const double loss = trainer->forward_backward(batch, ce);
      trainer->optimizer_step(h, h.lr);
      return loss;
    };
    step();  // warm-up: cuBLAS heuristics, first-touch of host pages
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    double loss = 0;
    for (int64_t i = 0; i < steps; ++i) loss = step();
    const double dt = std::chrono::duration<double>(clock::now() - t0).count() / double(steps);
    if (!ctx.leader()) return;
    const TrainMemoryPlan& plan = trainer->memory_plan();
    const double tokens = double(batch.tokens()) * double(ctx.ranks);
    // The usual convention (PaLM, the PyTorch peer): 6 FLOPs per parameter per token, attention excluded.
    const double flops = 6.0 * double(plan.parameters) * tokens;

    nlohmann::ordered_json out;
    out["model"] = label;
    out["device"] = train_device_name(to.device);
    out["gpus"] = ctx.ranks;
    out["parameters"] = plan.parameters;
    out["batch"] = to.max_batch;
    out["seq"] = to.max_seq;
    out["recompute"] = to.recompute;
    out["attention"] = plan.flash_attention ? "flash" : "unfused";
    out["step_ms"] = dt * 1e3;
    out["tokens_per_s"] = tokens / dt;
    out["tflops"] = flops / dt / 1e12;
    if (cuda) out["mfu"] = flops / dt / (peak_tflops * 1e12 * double(ctx.ranks));
    out["last_loss"] = loss;
    out["planned_GiB"] = double(plan.total_bytes()) / double(1 << 30);
    out["memory_plan"] = plan.describe();
#ifdef R1WB_HAVE_CUDA
    if (cuda) {
      const cuda::DeviceInfo info = cuda::device_info();
      out["gpu"] = info.name;
      out["device_used_GiB"] = double(info.total_memory - info.free_memory) / double(1 << 30);
    }
#endif
    std::printf("%s\n", out.dump(1).c_str());
  });
  return 0;
}

}  // namespace r1::cli
