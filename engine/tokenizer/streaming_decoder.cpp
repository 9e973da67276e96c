#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace r1 {

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {}

std::string StreamingDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id);
  std::string out;
  pending_.erase(0, utf8::append_complete(out, pending_));
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out = utf8::to_valid(pending_);
  pending_.clear();
  return out;
}

}  // namespace r1
