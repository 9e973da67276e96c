// Fuzz target: config.json text. An accepted config must satisfy what the loader and runtime build on
// (positive sizes, heads that divide, an even rotary part inside the head), and the sizes `r1wb info` and
// the memory planner derive from it are computed (UBSan reports an overflowing one).
#include <string>

#include "engine/core/error.h"
#include "engine/model/config.h"
#include "engine/model/deepseek.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const r1::ModelConfig c = r1::parse_hf_config(std::string(r1::fuzz::as_text(data, size)), "config.json");
    FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_layers > 0);
    FUZZ_CHECK(c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0);
    FUZZ_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0);
    const int64_t rotary = c.rotary_dim();
    FUZZ_CHECK(rotary > 0 && rotary <= c.head_dim && rotary % 2 == 0);
    FUZZ_CHECK(c.rms_norm_eps > 0 && c.rope.theta > 0);
    volatile int64_t sink = c.q_dim();
    sink = c.kv_dim();
    if (c.is_deepseek()) {
      FUZZ_CHECK(c.moe.num_experts_per_tok <= c.moe.n_routed_experts);
      sink = r1::mla_latent_values_per_token(c);
      sink = r1::mha_values_per_token(c);
      sink = r1::deepseek_active_parameters(c);
      volatile double scale = r1::mla_softmax_scale(c);
      (void)scale;
    }
    (void)sink;
  } catch (const r1::Error&) {
  }
  return 0;
}
