// Fuzz target: a JSONL dataset file, read both as SFT data and as GRPO problems. Accepted SFT examples are
// tokenized the three ways training does (r1-tiny's chat template, a Qwen3 template, plain prompt +
// completion) with masks as long as the ids; accepted problems give their key, partition and, where they
// carry Countdown fields, their numbers and target.
#include <string>

#include "engine/core/error.h"
#include "engine/grpo/tasks.h"
#include "engine/train/sft_data.h"
#include "fuzz_support.h"

namespace {

struct Setup {
  std::shared_ptr<const r1::Tokenizer> tokenizer;
  std::vector<r1::SftFormat> formats;
};

Setup make_setup() {
  const auto tiny = r1::fuzz::source_dir() / "resources" / "models" / "r1-tiny";
  Setup s;
  s.tokenizer = r1::Tokenizer::load(tiny);
  s.formats.push_back(r1::SftFormat::from_model_dir(tiny, *s.tokenizer));
  r1::SftFormat qwen3 = s.formats.front();
  qwen3.chat = r1::ChatTemplate(r1::ChatFamily::Qwen3);
  s.formats.push_back(qwen3);
  r1::SftFormat plain;  // no chat template
  plain.eos_id = s.formats.front().eos_id;
  plain.bos_id = s.formats.front().bos_id;
  plain.pad_id = s.formats.front().pad_id;
  s.formats.push_back(plain);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Setup setup = make_setup();
  const std::string_view text = r1::fuzz::as_text(data, size);
  try {
    const r1::SftDataset dataset = r1::parse_sft_jsonl(text, "data.jsonl");
    FUZZ_CHECK(!dataset.examples.empty());
    for (const r1::SftFormat& format : setup.formats) {
      for (const r1::SftExample& example : dataset.examples) {
        try {
          const r1::TokenizedExample t =
              r1::tokenize_sft_example(example, *setup.tokenizer, format, dataset.origin);
          FUZZ_CHECK(t.ids.size() == t.mask.size());
          for (const int32_t id : t.ids) FUZZ_CHECK(id >= 0 && id < setup.tokenizer->vocab_size());
        } catch (const r1::Error&) {
        }
      }
    }
  } catch (const r1::Error&) {
  }
  try {
    const std::vector<r1::Problem> problems = r1::parse_problems_jsonl(text, "problems.jsonl");
    FUZZ_CHECK(!problems.empty());
    for (const r1::Problem& p : problems) {
      FUZZ_CHECK(!p.prompt.empty() && !p.answer.empty());
      try {
        FUZZ_CHECK(!r1::problem_key(p).empty());
        (void)r1::is_heldout(p);
      } catch (const r1::Error&) {
      }
      try {
        (void)r1::countdown_spec(p);
      } catch (const r1::Error&) {
      }
    }
  } catch (const r1::Error&) {
  }
  return 0;
}
