#pragma once
// Batched sampling of G completions for each of several prompts on an inference runtime: each prompt is
// prefilled once (less its last token) and forked to its G sequences, which share the prompt's cache, then
// every unfinished sequence advances one token per forward pass.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/runtime/runtime.h"

namespace r1 {

class Trainer;
enum class TrainDevice;

struct RolloutBatch {
  int64_t G = 1;
  std::vector<std::vector<int32_t>>
      completions;  // [prompts * G], each ending with its stop id unless truncated
  std::vector<bool> truncated;
  double seconds = 0;
  int64_t tokens = 0;  // generated
};

// The runtime needs max_sequences >= prompts * G and a context of the longest prompt + max_new. Sequence s
// samples from a stream of its own, seeded by `seed` and first_sequence + s: a data-parallel rank that
// generates part of a batch passes its first sequence's index in the whole batch and samples what one
// rank generating all of it would.
RolloutBatch generate_rollouts(Runtime& rt, const std::vector<std::vector<int32_t>>& prompts, int64_t G,
                               int64_t max_new, const SamplingParams& sampling, uint64_t seed,
                               const std::vector<int64_t>& stop_ids, int64_t first_sequence = 0);

// The runtime device that generates rollouts for a trainer on `device`: the GPU runtime serves every
// architecture the trainer does, the DeepSeek ones included.
Device rollout_device(TrainDevice device);

// Points `rt` at the trainer's current weights: a CUDA runtime takes the trainer's bf16 compute copy
// device to device (the runtime is made once and kept); otherwise a new runtime is built from the trained
// model. Returns true when the weights went device to device.
bool sync_policy_runtime(std::unique_ptr<Runtime>& rt, const Model& base, const Trainer& trainer,
                         const RuntimeOptions& options);

}  // namespace r1
