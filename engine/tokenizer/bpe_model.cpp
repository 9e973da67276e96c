#include "engine/tokenizer/bpe_model.h"

#include <algorithm>

namespace r1 {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return uint64_t(uint32_t(left)) << 32 | uint32_t(right);
}

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Symbol {
  int32_t id;
  int32_t prev, next;  // -1 at the ends
  bool alive;
};

struct Candidate {
  uint32_t rank;
  int32_t pos;  // left symbol of the pair
  int32_t result;
  // std::push_heap keeps the largest on top: the "largest" candidate is the lowest rank, then the leftmost.
  bool operator<(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

}  // namespace

BpeModel::BpeModel(const std::array<int32_t, 256>& byte_ids, const std::vector<Merge>& merges,
                   StringMap<int32_t> whole_tokens, Options options)
    : byte_ids_(byte_ids), whole_tokens_(std::move(whole_tokens)), options_(options) {
  size_t size = 16;
  while (size < merges.size() * 2) size <<= 1;
  merge_table_.assign(size, MergeSlot{});
  merge_mask_ = size - 1;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Merge& m = merges[rank];
    const uint64_t key = pair_key(m.left, m.right);
    for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
      MergeSlot& slot = merge_table_[i];
      if (slot.key == key ||
          slot.key == ~uint64_t(0)) {  // a repeated pair keeps its last rank, as the reference
        slot = {key, uint32_t(rank), m.result};
        break;
      }
    }
  }
  cache_.reserve(kCacheEntries);
}

const BpeModel::MergeSlot* BpeModel::find_merge(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    const MergeSlot& slot = merge_table_[i];
    if (slot.key == key) return &slot;
    if (slot.key == ~uint64_t(0)) return nullptr;
  }
}

void BpeModel::encode(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (options_.ignore_merges) {
    const auto it = whole_tokens_.find(bytes);
    if (it != whole_tokens_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (bytes.size() == 1 && byte_ids_[static_cast<unsigned char>(bytes[0])] >= 0) {
    out.push_back(byte_ids_[static_cast<unsigned char>(bytes[0])]);
    return;
  }
  const bool cacheable = bytes.size() <= kCacheMaxPieceBytes;
  if (cacheable) {
    const std::lock_guard lock(cache_mutex_);
    const auto it = cache_.find(bytes);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_all(bytes, out);
  if (cacheable) {
    const std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();
    cache_.emplace(std::string(bytes), std::vector<int32_t>(out.begin() + std::ptrdiff_t(first), out.end()));
  }
}

void BpeModel::merge_all(std::string_view bytes, std::vector<int32_t>& out) const {
  thread_local Scratch scratch;
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  for (const char c : bytes) {
    int32_t id = byte_ids_[static_cast<unsigned char>(c)];
    if (id < 0) {
      if (options_.unk_id < 0) continue;  // no token for this byte and no unknown token: dropped
      if (options_.fuse_unk && !symbols.empty() && symbols.back().id == options_.unk_id) continue;
      id = options_.unk_id;
    }
    const auto n = int32_t(symbols.size());
    symbols.push_back({id, n - 1, -1, true});
    if (n > 0) symbols[size_t(n - 1)].next = n;
  }
  const auto push = [&](int32_t pos) {
    const Symbol& left = symbols[size_t(pos)];
    if (left.next < 0) return;
    if (const MergeSlot* m = find_merge(left.id, symbols[size_t(left.next)].id)) {
      heap.push_back({m->rank, pos, m->result});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[size_t(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    const MergeSlot* m = find_merge(left.id, right.id);
    if (!m || m->result != top.result) continue;  // stale: one side has changed since this pair was queued
    left.id = top.result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (const Symbol& s : symbols)
    if (s.alive) out.push_back(s.id);
}

}  // namespace r1
