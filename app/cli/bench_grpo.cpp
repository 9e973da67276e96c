// r1wb bench grpo: one GRPO step at a real shape on random weights (P prompts x G completions x N new
// tokens, a synthetic reward), timed as weight sync (the trainer's weights into a fresh runtime), generation
// (our batched runtime, the prompt's cache shared by its group) and update (our trainer: log-probabilities,
// clipped surrogate, AdamW). Figures, not assertions;
// tests/bench/grpo_peer.py times the same step with PyTorch + transformers.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/grpo/grpo.h"
#include "engine/grpo/rollout.h"
#include "engine/runtime/runtime.h"
#include "engine/train/data_parallel.h"

namespace r1::cli {

int bench_grpo(const ArgList& argv) {
  const Args args(argv,
                  {"model", "shape", "device", "dtype", "prompts", "group-size", "new-tokens",
                   "prompt-tokens", "micro-batch", "steps", "gpus"},
                  {});
  TrainerOptions to;
  to.device = parse_train_device(args.get("device", "cuda"));
  const int64_t P = args.get_int("prompts", 16), G = args.get_int("group-size", 8);
  const int64_t new_tokens = args.get_int("new-tokens", 512),
                prompt_tokens = args.get_int("prompt-tokens", 64);
  const int64_t micro = args.get_int("micro-batch", 16), steps = args.get_int("steps", 2);
  if (P < 1 || G < 2 || new_tokens < 1 || prompt_tokens < 2 || micro < 1 || steps < 1)
    fail(
        "bench grpo needs positive --prompts, --new-tokens, --micro-batch, --steps, --group-size >= 2 and "
        "--prompt-tokens >= 2");
  const int gpus = int(args.get_int("gpus", 1));
  if (gpus < 1 || P % gpus != 0) fail("--prompts (", P, ") must split evenly over --gpus (", gpus, ")");
  std::string label;
  const auto model = bench_model(args, &label);
  const int64_t L = prompt_tokens + new_tokens, V = model->config.vocab_size;
  to.max_batch = micro, to.max_seq = L;
  // Each rank (GPU) generates and trains P / gpus prompts' groups; the gradients are summed every step.
  run_ranks(gpus, to.device, [&](RankContext& ctx) {
    const auto [p_begin, p_end] = ctx.share(P);
    const int64_t N = (p_end - p_begin) * G;
    auto trainer = make_trainer(*model, to);
    trainer->set_gradient_sync(ctx.sync);
    RuntimeOptions ro;
    ro.device = rollout_device(to.device);
    ro.max_sequences = int(N);
    ro.max_context = L + 1;

    std::vector<std::vector<int32_t>> prompts;
    for (int64_t p = p_begin; p < p_end; ++p) {
      prompts.emplace_back();
      for (int64_t t = 0; t < prompt_tokens; ++t)
        prompts.back().push_back(int32_t((p * 7919 + t * 104729) % V));
    }
    SamplingParams sampling;  // temperature 1, no stop id: every completion has new_tokens tokens
    using clock = std::chrono::steady_clock;
    double sync_s = 0, gen_s = 0, update_s = 0;
    int64_t generated = 0;
    std::unique_ptr<Runtime> rt;
    bool on_device = false;
    for (int64_t step = 0; step <= steps; ++step) {  // step 0 warms up
      // The rollout policy is the trainer's current weights, as in r1wb train grpo.
      const auto ts = clock::now();
      on_device = sync_policy_runtime(rt, *model, *trainer, ro);
      const auto t0 = clock::now();
      const RolloutBatch gen =
          generate_rollouts(*rt, prompts, G, new_tokens, sampling, uint64_t(step + 1), {}, p_begin * G);
      const auto t1 = clock::now();
      // A synthetic reward: the share of even token ids.
      std::vector<double> reward;
      for (const auto& c : gen.completions) {
        double even = 0;
        for (int32_t t : c) even += (t % 2 == 0) ? 1 : 0;
        reward.push_back(even / double(c.size()));
      }
      const std::vector<double> adv = group_advantages(reward, G, AdvantageScale::Group);
      for (int64_t r0 = 0; r0 < N; r0 += micro) {
        const int64_t rows = std::min(micro, N - r0);
        TrainBatch b;
        b.B = rows, b.L = L;
        std::vector<float> w, a;
        for (int64_t r = r0; r < r0 + rows; ++r) {
          std::vector<int32_t> seq = prompts[size_t(r / G)];
          seq.insert(seq.end(), gen.completions[size_t(r)].begin(), gen.completions[size_t(r)].end());
          seq.resize(size_t(L), 0);
          for (int64_t t = 0; t < L; ++t) {
            const bool trained = t >= prompt_tokens - 1 && t + 1 < L;
            b.ids.push_back(seq[size_t(t)]);
            b.targets.push_back(t + 1 < L ? seq[size_t(t + 1)] : 0);
            b.weights.push_back(trained ? 1.0f : 0.0f);
            w.push_back(trained ? float(1.0 / double(new_tokens * P * G)) : 0.0f);
            a.push_back(float(adv[size_t(r)]));
          }
        }
        GrpoObjective obj({}, w.data(), a.data(), nullptr, nullptr);
        if (ctx.sync && r0 + micro >= N) ctx.sync->reduce_in_next_backward();
        trainer->forward_backward(b, obj);
      }
      OptimizerHyper h;
      trainer->optimizer_step(h, 1e-6);
      const auto t2 = clock::now();
      if (step == 0) continue;
      sync_s += std::chrono::duration<double>(t0 - ts).count();
      gen_s += std::chrono::duration<double>(t1 - t0).count();
      update_s += std::chrono::duration<double>(t2 - t1).count();
      generated += gen.tokens;
    }
    const std::vector<int64_t> all_generated = ctx.all_gather(generated);
    if (!ctx.leader()) return;
    generated = 0;
    for (int64_t g : all_generated) generated += g;
    nlohmann::ordered_json out;
    out["model"] = label;
    out["device"] = train_device_name(to.device);
    out["gpus"] = ctx.ranks;
    out["prompts"] = P, out["group_size"] = G, out["new_tokens"] = new_tokens,
    out["prompt_tokens"] = prompt_tokens;
    out["weight_sync_s"] = sync_s / double(steps);
    out["weight_sync"] = on_device ? "device to device" : "through the host";
    out["generation_s"] = gen_s / double(steps);
    out["update_s"] = update_s / double(steps);
    out["step_s"] = (sync_s + gen_s + update_s) / double(steps);
    out["rollout_tokens_per_s"] = double(generated) / gen_s;
    out["train_tokens_per_s"] = double(P * G * L) * double(steps) / update_s;
    std::printf("%s\n", out.dump(1).c_str());
  });
  return 0;
}

}  // namespace r1::cli
