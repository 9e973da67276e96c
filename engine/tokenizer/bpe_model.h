#pragma once
// Byte-level BPE over one pre-token: start from one symbol per byte, then apply merges lowest rank first
// (leftmost among equal ranks) with a heap over a linked list of symbols, O(n log n) in the pre-token's
// length. Results for short pre-tokens are cached; the cache is bounded and shared by threads.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace r1 {

// Lets maps keyed by std::string be searched with a std::string_view.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringViewHash, std::equal_to<>>;

class BpeModel {
 public:
  struct Merge {
    int32_t left, right, result;
  };
  struct Options {
    bool ignore_merges = false;  // a pre-token found whole in the vocabulary is one token
    int32_t unk_id = -1;         // for bytes with no token; -1 drops them
    bool fuse_unk = false;
  };

  // `byte_ids[b]`: the token of the single byte b (-1: none). `merges` in rank order. `whole_tokens` maps the
  // bytes of every vocabulary token to its id (used with ignore_merges).
  BpeModel(const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges,
           StringMap<int32_t> whole_tokens, Options options);

  // Appends the ids of one pre-token, given as raw bytes.
  void encode(std::string_view bytes, std::vector<int32_t>& out) const;

  static constexpr size_t kCacheMaxPieceBytes = 256;
  static constexpr size_t kCacheEntries = 1 << 16;

 private:
  struct MergeSlot {
    uint64_t key = ~uint64_t(0);
    uint32_t rank = 0;
    int32_t result = -1;
  };
  const MergeSlot* find_merge(int32_t left, int32_t right) const;
  void merge_all(std::string_view bytes, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_ids_;
  std::vector<MergeSlot> merge_table_;  // open addressing, power-of-two size
  uint64_t merge_mask_ = 0;
  StringMap<int32_t> whole_tokens_;
  Options options_;

  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace r1
