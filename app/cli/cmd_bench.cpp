// r1wb bench decode: prefill and decode throughput with the roofline beside it. Figures, not assertions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/runtime/runtime.h"
#include "engine/runtime/sampler.h"
#include "kernels/cpu/parallel.h"

namespace r1::cli {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Host memory copy bandwidth, counting bytes read plus bytes written (as the GPU figure is counted).
double host_copy_bandwidth() {
  const size_t n = size_t(256) << 20;
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = Clock::now();
    cpu::parallel_for(int64_t(n >> 20), [&](int64_t lo, int64_t hi) {
      std::memcpy(b.data() + (lo << 20), a.data() + (lo << 20), size_t(hi - lo) << 20);
    });
    best = std::max(best, 2.0 * double(n) / since(t0));
  }
  return best;
}

int64_t matrix_bytes_per_token(const Model& m) {
  int64_t n = 0;
  for (const auto& L : m.weights.layers)
    for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      n += int64_t(t->nbytes());
  return n + int64_t(m.weights.lm_head.nbytes());
}

}  // namespace

std::shared_ptr<const Model> bench_model(const Args& args, std::string* label) {
  if (args.has("model") == args.has("shape")) fail("give exactly one of --model and --shape");
  std::shared_ptr<const Model> model;
  if (args.has("model")) {
    model = load_model(args.get("model"));
    *label = args.get("model");
  } else {
    const std::string dt = args.get("dtype", "bf16");
    DType dtype = DType::BF16;
    if (dt == "f32")
      dtype = DType::F32;
    else if (dt == "f16")
      dtype = DType::F16;
    else if (dt != "bf16")
      fail("option --dtype: \"", dt, "\" is not one of bf16, f16, f32");
    *label = args.get("shape");
    const ModelConfig shape = shape_config(*label);
    // Refuse before printing anything: an error is one stderr line.
    if (shape.is_deepseek()) check_random_weights_fit(shape, dtype, *label);
    std::fprintf(stderr, "building random %s weights for %s...\n", dt.c_str(), label->c_str());
    model = random_model(shape, dtype, 1234);
  }
  return model;
}

int cmd_bench(const ArgList& argv) {
  if (argv.empty()) fail("bench needs a target: decode or tokenize");
  const ArgList rest(argv.begin() + 1, argv.end());
  if (argv[0] == "decode") return bench_decode(rest);
  if (argv[0] == "tokenize") return bench_tokenize(rest);
  if (argv[0] == "ops") return bench_ops(rest);
  if (argv[0] == "train") return bench_train(rest);
  if (argv[0] == "grpo") return bench_grpo(rest);
  if (argv[0] == "serve") return bench_serve(rest);
  fail("unknown bench target \"", argv[0], "\" (decode, grpo, ops, serve, tokenize, train)");
}

int bench_ops(const ArgList& argv) {
  const Args args(
      argv, {"model", "shape", "device", "batch", "prefill-tokens", "context", "train-batch", "train-seq"},
      {});
  if (args.has("model") == args.has("shape")) fail("give exactly one of --model and --shape");
  if (parse_device(args.get("device", "cuda")) != Device::Cuda)
    fail("bench ops measures the CUDA kernels; use --device cuda");
  const ModelConfig c =
      args.has("model") ? load_hf_config(args.get("model")) : shape_config(args.get("shape"));
  const auto batches = args.get_list("batch", {1, 64});
  for (int64_t b : batches)
    if (b < 1) fail("option --batch: batch sizes must be positive");
  std::printf("%s\n", cuda_op_benchmark(c, batches, args.get_int("prefill-tokens", 2048),
                                        args.get_int("context", 320), args.get_int("train-batch", 8),
                                        args.get_int("train-seq", 1024))
                          .c_str());
  return 0;
}

int bench_decode(const ArgList& argv) {
  const Args args(argv,
                  {"model", "shape", "device", "batch", "new-tokens", "prompt-tokens", "prefill-tokens",
                   "dtype", "threads", "temperature", "top-p", "context", "steps-per-call"},
                  {});
  const Device device = parse_device(args.get("device", "cpu"));
  if (args.has("threads")) cpu::set_num_threads(int(args.get_int("threads", 1)));
  std::string label;
  const std::shared_ptr<const Model> model = bench_model(args, &label);
  const ModelConfig& c = model->config;
  const auto batches = args.get_list("batch", {1});
  const int64_t new_tokens = args.get_int("new-tokens", device == Device::Cpu ? 32 : 256);
  const int64_t prompt_tokens = args.get_int("prompt-tokens", 32);
  const int64_t prefill_tokens = args.get_int("prefill-tokens", device == Device::Cpu ? 256 : 2048);
  if (new_tokens < 4 || prompt_tokens < 1 || prefill_tokens < 1)
    fail("--new-tokens must be at least 4 and token counts positive");
  // Decode steps a call (forward_sample_steps), as generation runs them: on a runtime that chains steps on
  // the device as many as the run has room for, up to Runtime::kMaxDecodeSteps (three calls' worth, two of
  // them untimed), else one.
  const int most_steps = int(std::min<int64_t>(Runtime::kMaxDecodeSteps, (new_tokens - 1) / 3));
  const int asked_steps = int(args.get_int("steps-per-call", 0));
  if (args.has("steps-per-call") && (asked_steps < 1 || asked_steps > most_steps))
    fail("option --steps-per-call: 1 to ", Runtime::kMaxDecodeSteps, ", and at most (--new-tokens - 1) / 3");
  // Decode samples greedily unless --temperature is given (then with --top-p, as chat does). --context sets
  // the runtime's context as chat would (its CUDA graph is sized for it), not just what the run needs.
  SamplingParams sampling = SamplingParams::greedy();
  if (args.has("temperature") || args.has("top-p")) {
    sampling.temperature = float(args.get_double("temperature", 1.0));
    sampling.top_p = float(args.get_double("top-p", 1.0));
    sampling.seed = 7;
    sampling.validate();
  }
  const int64_t needed_context = prompt_tokens + new_tokens + 1;
  const int64_t decode_context = args.get_int("context", needed_context);
  if (decode_context < needed_context)
    fail("--context ", decode_context, " is shorter than --prompt-tokens + --new-tokens + 1 (",
         needed_context, ")");
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any_token(0, int32_t(c.vocab_size - 1));

  nlohmann::ordered_json out;
  out["model"] = label;
  out["device"] = device_name(device);
  out["parameters"] = model->parameter_count();
  out["weight_dtype"] = std::string(dtype_name(model->weight_dtype()));
  // A MoE decode step reads only the experts its tokens were routed to (top_k of them at batch 1).
  const auto weight_bytes_at = [&](int64_t batch) {
    return c.is_deepseek() ? deepseek_weight_bytes_per_step(*model, batch) : matrix_bytes_per_token(*model);
  };
  const int64_t weight_bytes = weight_bytes_at(1);
  if (c.is_deepseek()) out["active_parameters"] = deepseek_active_parameters(c);
  out["weight_bytes_read_per_step"] = weight_bytes;
  double bandwidth = 0;
  if (device == Device::Cpu) {
    bandwidth = host_copy_bandwidth();
    out["threads"] = cpu::num_threads();
    out["host_copy_bandwidth_GBs"] = bandwidth / 1e9;
  } else {
    bandwidth = measure_device_copy_bandwidth();
    out["device_copy_bandwidth_GBs"] = bandwidth / 1e9;
  }

  {  // Prefill: one sequence of prefill_tokens.
    RuntimeOptions o;
    o.device = device;
    o.max_context = prefill_tokens + 1;
    o.max_batch_tokens = std::min<int64_t>(prefill_tokens, device == Device::Cpu ? 512 : 4096);
    const auto rt = create_runtime(model, o);
    out["runtime"] = rt->device_description();
    std::vector<int32_t> ids(static_cast<size_t>(prefill_tokens));
    for (auto& t : ids) t = any_token(rng);
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    // The same prompt once untimed (kernel loading, cuBLAS's choice of kernels for these shapes), then the
    // median of three timed runs.
    const SequenceInput in{0, ids, false};
    std::vector<double> runs;
    for (int run = 0; run < 4; ++run) {
      rt->truncate(0, 0);
      const auto t0 = Clock::now();
      rt->forward({&in, 1}, logits.data());
      if (run > 0) runs.push_back(since(t0));
    }
    std::sort(runs.begin(), runs.end());
    const double dt = runs[1];
    const int64_t params = c.is_deepseek() ? deepseek_active_parameters(c) : model->parameter_count();
    const double flops = 2.0 * double(params) * double(prefill_tokens);
    out["prefill"] = {{"tokens", prefill_tokens},
                      {"seconds", dt},
                      {"tokens_per_s", double(prefill_tokens) / dt},
                      {"gflops", flops / dt / 1e9}};
  }

  nlohmann::ordered_json decode = nlohmann::ordered_json::array();
  for (int64_t B : batches) {
    if (B < 1) fail("option --batch: batch sizes must be positive");
    RuntimeOptions o;
    o.device = device;
    o.max_sequences = int(B);
    o.max_context = decode_context;
    o.max_batch_tokens = std::max<int64_t>(B, std::min<int64_t>(B * prompt_tokens, 512));
    const auto rt = create_runtime(model, o);
    std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(B));
    std::vector<SequenceInput> batch;
    for (int64_t s = 0; s < B; ++s) {
      prompts[size_t(s)].resize(size_t(prompt_tokens));
      for (auto& t : prompts[size_t(s)]) t = any_token(rng);
      batch.push_back({int(s), prompts[size_t(s)], false});
    }
    // Decode through forward_sample_steps: sampling runs where the model runs, `chain` steps a call, as in
    // generation. The prompt's step, then two untimed calls (the first runs its steps one at a time, the
    // second builds the CUDA graph), then whole calls.
    const int chain = asked_steps > 0 ? asked_steps : rt->chains_decode_steps() ? most_steps : 1;
    const std::vector<SamplingParams> params(static_cast<size_t>(B), sampling);
    std::vector<int32_t> next(static_cast<size_t>(B) * size_t(chain));
    int32_t* const last_row = next.data() + size_t(chain - 1) * size_t(B);  // the tokens fed next
    const auto feed_last = [&] {
      for (int64_t s = 0; s < B; ++s) batch[size_t(s)].tokens = std::span<const int32_t>(&last_row[s], 1);
    };
    rt->forward_sample(batch, params, last_row);
    feed_last();
    for (int warm = 0; warm < 2; ++warm) {
      rt->forward_sample_steps(batch, params, chain, next.data());
      feed_last();
    }
    const int64_t calls = (new_tokens - 1 - 2 * chain) / chain, steps = calls * chain;
    const auto t0 = Clock::now();
    for (int64_t call = 0; call < calls; ++call) {
      rt->forward_sample_steps(batch, params, chain, next.data());
      feed_last();
    }
    const double dt = since(t0);
    const KvCacheStats kv = rt->kv_stats();
    // Bytes per step: every weight matrix once, plus each sequence's KV cache (average length over the run).
    const double avg_len = double(prompt_tokens) + 1.0 + 2.0 * chain + double(steps) / 2.0;
    const double step_bytes = double(weight_bytes_at(B)) + double(B) * avg_len * double(kv.bytes_per_token);
    const double step_s = dt / double(steps);
    const double tok_s = double(B) / step_s;
    const double roofline_tok_s = double(B) * bandwidth / step_bytes;
    decode.push_back({{"batch", B},
                      {"new_tokens", new_tokens},
                      {"steps_per_call", chain},
                      {"tokens_per_s", tok_s},
                      {"ms_per_step", step_s * 1e3},
                      {"bytes_per_step", step_bytes},
                      {"roofline_tokens_per_s", roofline_tok_s},
                      {"roofline_fraction", tok_s / roofline_tok_s},
                      {"kv_bytes_per_token", kv.bytes_per_token}});
  }
  out["decode"] = decode;
  out["decode_context"] = decode_context;
  out["sampling"] =
      sampling.temperature == 0.0f
          ? nlohmann::ordered_json("greedy")
          : nlohmann::ordered_json{{"temperature", sampling.temperature}, {"top_p", sampling.top_p}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace r1::cli
