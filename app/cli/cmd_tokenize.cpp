// r1wb tokenize: the ids of a text as a JSON list on one line. With --decode a second line follows: the ids
// decoded back to text, as a JSON string. This output is relied on by tests and scripts; keep it stable.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/core/error.h"
#include "engine/core/files.h"
#include "engine/tokenizer/tokenizer.h"

namespace r1::cli {

int cmd_tokenize(const ArgList& argv) {
  const Args args(argv, {"tokenizer", "text", "text-file"}, {"decode"});
  const auto tokenizer = Tokenizer::load(args.require("tokenizer"));
  if (args.has("text") == args.has("text-file")) fail("give exactly one of --text and --text-file");
  const std::string text = args.has("text") ? args.get("text") : read_text_file(args.get("text-file"));
  const std::vector<int32_t> ids = tokenizer->encode(text);
  std::string line = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ", ";
    line += std::to_string(ids[i]);
  }
  line += "]\n";
  std::fputs(line.c_str(), stdout);
  if (args.has("decode")) {
    const nlohmann::json decoded = tokenizer->decode(ids);
    std::printf("%s\n", decoded.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  return 0;
}

}  // namespace r1::cli
