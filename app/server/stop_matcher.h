#pragma once
// Stop strings on streamed text: passes text through, holding back only a tail that could still become a
// stop string, and ends the text just before the first stop string that appears (OpenAI's `stop`: the stop
// string itself is not returned).
#include <string>
#include <string_view>
#include <vector>

namespace r1::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // The text now safe to emit. After a hit, returns the text before the stop string and then nothing.
  std::string push(std::string_view piece);
  // Generation ended: whatever was held back (no stop string came).
  std::string finish();
  bool hit() const { return hit_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool hit_ = false;
};

}  // namespace r1::server
