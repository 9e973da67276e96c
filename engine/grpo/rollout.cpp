#include "rollout.h"

#include <algorithm>
#include <chrono>

#include "engine/core/error.h"
#include "engine/train/trainer.h"

namespace r1 {

RolloutBatch generate_rollouts(Runtime& rt, const std::vector<std::vector<int32_t>>& prompts, int64_t G,
                               int64_t max_new, const SamplingParams& sampling, uint64_t seed,
                               const std::vector<int64_t>& stop_ids, int64_t first_sequence) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t P = int64_t(prompts.size()), N = P * G;
  if (N > rt.max_sequences())
    fail(P, " prompts x ", G, " completions need ", N, " sequences; the runtime holds ", rt.max_sequences());
  RolloutBatch out;
  out.G = G;
  out.completions.assign(size_t(N), {});
  out.truncated.assign(size_t(N), false);
  for (int64_t s = 0; s < N; ++s) rt.truncate(int(s), 0);
  // Prefill every prompt but its last token (that one is fed per sequence, so each samples its own first).
  std::vector<SequenceInput> prefill;
  for (int64_t p = 0; p < P; ++p) {
    if (prompts[size_t(p)].empty()) fail("prompt ", p, " is empty");
    if (prompts[size_t(p)].size() > 1)
      prefill.push_back(
          {int(p * G), std::span<const int32_t>(prompts[size_t(p)]).first(prompts[size_t(p)].size() - 1)});
  }
  if (!prefill.empty()) {
    std::vector<float> logits(size_t(Runtime::logit_rows(prefill) * rt.config().vocab_size));
    rt.forward(prefill, logits.data());
  }
  for (int64_t p = 0; p < P; ++p)
    for (int64_t j = 1; j < G; ++j) rt.fork(int(p * G), int(p * G + j));

  std::vector<int32_t> last(static_cast<size_t>(N));
  for (int64_t s = 0; s < N; ++s) last[size_t(s)] = prompts[size_t(s / G)].back();
  std::vector<bool> done(size_t(N), false);
  std::vector<SequenceInput> batch;
  std::vector<SamplingParams> params;
  std::vector<int32_t> next;
  std::vector<int64_t> rows;
  // Up to Runtime::kMaxDecodeSteps steps a call, chained on the device; a sequence that stops inside a call
  // ignores the tokens sampled for it after the stop (every sequence is cut back to nothing at the end).
  for (int64_t step = 0; step < max_new;) {
    batch.clear(), params.clear(), rows.clear();
    for (int64_t s = 0; s < N; ++s) {
      if (done[size_t(s)]) continue;
      batch.push_back({int(s), std::span<const int32_t>(&last[size_t(s)], 1)});
      SamplingParams sp = sampling;
      sp.seed = seed * 0x9E3779B97F4A7C15ull + uint64_t(first_sequence + s) * 0xD1B54A32D192ED03ull + 1;
      params.push_back(sp);
      rows.push_back(s);
    }
    if (batch.empty()) break;
    const int steps = int(std::min<int64_t>(Runtime::kMaxDecodeSteps, max_new - step));
    const size_t B = batch.size();
    next.resize(B * size_t(steps));
    rt.forward_sample_steps(batch, params, steps, next.data());
    step += steps;
    for (int k = 0; k < steps; ++k)
      for (size_t i = 0; i < B; ++i) {
        const int64_t s = rows[i];
        if (done[size_t(s)]) continue;
        const int32_t tok = next[size_t(k) * B + i];
        out.completions[size_t(s)].push_back(tok);
        last[size_t(s)] = tok;
        ++out.tokens;
        if (std::find(stop_ids.begin(), stop_ids.end(), int64_t(tok)) != stop_ids.end()) {
          done[size_t(s)] = true;
        } else if (int64_t(out.completions[size_t(s)].size()) >= max_new) {
          done[size_t(s)] = true;
          out.truncated[size_t(s)] = true;
        }
      }
  }
  for (int64_t s = 0; s < N; ++s) rt.truncate(int(s), 0);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Device rollout_device(TrainDevice device) {
  return device == TrainDevice::Cuda ? Device::Cuda : Device::Cpu;
}

bool sync_policy_runtime(std::unique_ptr<Runtime>& rt, const Model& base, const Trainer& trainer,
                         const RuntimeOptions& options) {
  const void* block = trainer.device_compute_weights();
  if (rt && block && rt->copy_weights_from_device(trainer.layout(), block)) return true;
  rt.reset();  // the old runtime's memory goes before the new one is planned
  rt = create_runtime(trained_model(base, trainer.layout(), trainer.parameters()), options);
  return false;
}

}  // namespace r1
