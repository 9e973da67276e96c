#pragma once
// RoPE frequencies as transformers computes them (modeling_rope_utils): default, linear, llama3 and YaRN.
#include <cstdint>
#include <vector>

#include "config.h"

namespace r1 {

struct RopeTables {
  std::vector<float> inv_freq;    // rotary_dim / 2
  float attention_factor = 1.0f;  // cos/sin are multiplied by this (YaRN)
};

RopeTables rope_frequencies(const ModelConfig& c);

// Fills cos_sin[pos * rot + i] = cos(pos * f_i) * af and cos_sin[pos * rot + rot/2 + i] = sin(...) * af.
void fill_rope_table(float* cos_sin, const RopeTables& t, int64_t positions);

}  // namespace r1
