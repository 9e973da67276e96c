#include <cstdio>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/io/npy.h"
#include "engine/runtime/runtime.h"

namespace r1::cli {

int cmd_logits(const ArgList& argv) {
  const Args args(argv, {"model", "ids", "out", "device", "mla-path"}, {});
  const auto model = load_model(args.require("model"));
  std::vector<int32_t> ids;
  for (int64_t v : parse_int_list(args.require("ids"), "ids")) {
    if (v < 0 || v >= model->config.vocab_size)
      fail("option --ids: token id ", v, " is out of range for a vocabulary of ", model->config.vocab_size);
    ids.push_back(int32_t(v));
  }
  const std::string out = args.require("out");
  RuntimeOptions o;
  o.device = parse_device(args.get("device", "cpu"));
  o.mla_path = parse_mla_path(args.get("mla-path", "auto"));
  o.max_context = std::max<int64_t>(int64_t(ids.size()), 1);
  if (o.max_context > model->config.max_position_embeddings)
    fail("option --ids: ", ids.size(), " tokens exceed the model's context of ",
         model->config.max_position_embeddings);
  const auto rt = create_runtime(model, o);
  const int64_t vocab = model->config.vocab_size;
  std::vector<float> logits(ids.size() * size_t(vocab));
  const SequenceInput in{0, ids, true};
  rt->forward({&in, 1}, logits.data());
  write_npy(out, TensorView{logits.data(), DType::F32, {int64_t(ids.size()), vocab}});
  std::fprintf(stderr, "wrote logits [%zu, %lld] to %s\n", ids.size(), (long long)vocab, out.c_str());
  return 0;
}

}  // namespace r1::cli
