#pragma once
// The training memory plan: every byte the trainer will hold, by kind, known before anything is allocated,
// so a run that cannot fit is refused with its breakdown instead of failing midway.
#include <cstdint>
#include <string>

#include "engine/model/config.h"

namespace r1 {

struct TrainMemoryPlan {
  int64_t parameters = 0;       // trainable values
  int64_t weights_bytes = 0;    // compute copy (bf16 on CUDA; none on the CPU, which computes on the master)
  int64_t master_bytes = 0;     // fp32 master weights
  int64_t grads_bytes = 0;      // fp32 gradients
  int64_t optimizer_bytes = 0;  // AdamW first and second moments, fp32
  int64_t activations_bytes = 0;   // saved activations, activation gradients, LM-head chunk, scratch
  int64_t lm_head_chunk_rows = 0;  // logits rows held at once
  int64_t batch = 0, seq = 0;
  bool recompute = false;
  bool flash_attention = false;  // attention keeps log-sum-exp rows, not the probabilities

  int64_t total_bytes() const {
    return weights_bytes + master_bytes + grads_bytes + optimizer_bytes + activations_bytes;
  }
  std::string describe() const;  // one line per kind, in GiB
};

// act_bytes: 4 (fp32 activations) or 2 (bf16); compute_copy: whether a bf16 weight copy is held;
// flash_attention: whether attention saves one fp32 log-sum-exp per query row instead of the L x L
// probabilities (TrainDims::flash); attention_scratch_bytes: what the backend's attention needs for one
// layer.
TrainMemoryPlan plan_train_memory(const ModelConfig& c, int64_t batch, int64_t seq, bool recompute,
                                  int64_t chunk_rows, int act_bytes, bool compute_copy, bool flash_attention,
                                  int64_t attention_scratch_bytes);

// LM-head rows per chunk so that the fp32 logits and their gradient stay within budget_bytes.
int64_t lm_head_chunk_rows(int64_t tokens, int64_t vocab, int act_bytes, int64_t budget_bytes);

}  // namespace r1
