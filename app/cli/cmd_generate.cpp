#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/runtime/generator.h"
#include "engine/tokenizer/tokenizer.h"

namespace r1::cli {

SamplingParams sampling_from_args(const Args& args) {
  SamplingParams s;
  if (args.has("greedy")) {
    for (const char* o : {"temperature", "top-k", "top-p", "min-p"})
      if (args.has(o)) fail("option --greedy cannot be combined with --", o);
    s = SamplingParams::greedy();
  } else {
    s.temperature = float(args.get_double("temperature", 1.0));
    s.top_k = int(args.get_int("top-k", 0));
    s.top_p = float(args.get_double("top-p", 1.0));
    s.min_p = float(args.get_double("min-p", 0.0));
  }
  s.repetition_penalty = float(args.get_double("repetition-penalty", 1.0));
  s.seed = uint64_t(args.get_int("seed", 0));
  s.validate();
  return s;
}

int cmd_generate(const ArgList& argv) {
  const Args args(argv,
                  {"model", "ids", "prompt", "max-new-tokens", "temperature", "top-k", "top-p", "min-p",
                   "repetition-penalty", "seed", "device", "mla-path", "context"},
                  {"greedy", "print-ids", "no-stop", "truncate-prompt"});
  const std::filesystem::path dir = args.require("model");
  if (args.has("ids") == args.has("prompt")) fail("give exactly one of --ids and --prompt");
  const auto model = load_model(dir);
  const SamplingParams sampling = sampling_from_args(args);
  std::shared_ptr<const Tokenizer> tokenizer;
  if (std::filesystem::exists(dir / "tokenizer.json")) tokenizer = Tokenizer::load(dir);
  std::vector<int32_t> prompt;
  if (args.has("prompt")) {
    if (!tokenizer) fail(dir.string(), ": --prompt needs a tokenizer.json in the model folder; use --ids");
    prompt = tokenizer->encode(args.get("prompt"));
    if (prompt.empty()) fail("option --prompt: the prompt encodes to no tokens");
  } else {
    for (int64_t v : parse_int_list(args.get("ids"), "ids")) {
      if (v < 0 || v >= model->config.vocab_size)
        fail("option --ids: token id ", v, " is out of range for a vocabulary of ", model->config.vocab_size);
      prompt.push_back(int32_t(v));
    }
  }
  GenerateOptions go;
  go.max_new_tokens = args.get_int("max-new-tokens", 64);
  if (go.max_new_tokens < 1) fail("option --max-new-tokens must be at least 1");
  if (!args.has("no-stop"))
    for (int64_t id : model->stop_ids) go.stop_ids.push_back(int32_t(id));
  RuntimeOptions ro;
  ro.device = parse_device(args.get("device", "cpu"));
  ro.mla_path = parse_mla_path(args.get("mla-path", "auto"));
  ro.max_context = args.get_int("context", std::min<int64_t>(model->config.max_position_embeddings,
                                                             int64_t(prompt.size()) + go.max_new_tokens));
  if (ro.max_context < 2) fail("option --context must be at least 2");
  // The prompt and at least one new token must fit: refuse, or with --truncate-prompt keep the prompt's end
  // and the room for --max-new-tokens where the context allows.
  if (int64_t(prompt.size()) >= ro.max_context) {
    if (!args.has("truncate-prompt"))
      fail("the prompt takes ", prompt.size(), " tokens and the context holds ", ro.max_context,
           "; shorten it, raise --context (at most ", model->config.max_position_embeddings,
           "), or pass --truncate-prompt to keep its last tokens");
    const int64_t keep = std::max<int64_t>(1, ro.max_context - go.max_new_tokens);
    std::fprintf(stderr, "[prompt truncated from %zu to its last %lld tokens to fit the context of %lld]\n",
                 prompt.size(), static_cast<long long>(keep), static_cast<long long>(ro.max_context));
    prompt.erase(prompt.begin(), prompt.end() - keep);
  }
  const auto rt = create_runtime(model, ro);
  Generator gen(*rt);
  const bool print_ids = args.has("print-ids") || !tokenizer;
  std::unique_ptr<StreamingDecoder> stream;
  if (!print_ids) stream = std::make_unique<StreamingDecoder>(*tokenizer);
  const auto result = gen.generate(prompt, go, sampling, [&](int32_t tok) {
    if (stream) {
      const std::string piece = stream->push(tok);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (stream) {
    const std::string rest = stream->flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    for (size_t i = 0; i < result.tokens.size(); ++i) std::printf("%s%d", i ? "," : "", result.tokens[i]);
    std::printf("\n");
  }
  std::fprintf(stderr, "[%lld prompt tokens, %zu generated, stop: %s, prefill %.1f ms, %.1f tok/s decode]\n",
               (long long)result.prompt_tokens, result.tokens.size(), stop_reason_name(result.reason),
               result.prefill_seconds * 1e3, result.decode_tokens_per_second());
  return 0;
}

}  // namespace r1::cli
