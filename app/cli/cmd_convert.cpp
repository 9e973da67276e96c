#include <cstdio>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/io/model_writer.h"

namespace r1::cli {

int cmd_convert(const ArgList& argv) {
  const Args args(argv, {"model", "out", "dtype"}, {});
  const auto model = load_model(args.require("model"));
  const std::string name = args.get("dtype", "bf16");
  DType dtype = DType::BF16;
  if (name == "f32") {
    dtype = DType::F32;
  } else if (name == "f16") {
    dtype = DType::F16;
  } else if (name != "bf16") {
    fail("option --dtype: \"", name, "\" is not one of bf16, f16, f32");
  }
  const std::string out = args.require("out");
  save_model(*model, out, dtype);
  std::fprintf(stderr, "wrote %s (%s weights)\n", out.c_str(), name.c_str());
  return 0;
}

}  // namespace r1::cli
