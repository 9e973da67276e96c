#include "block_allocator.h"

#include <algorithm>

#include "engine/core/error.h"

namespace r1 {

BlockAllocator::BlockAllocator(int64_t num_blocks, int32_t block_size, int max_sequences)
    : block_size_(block_size), refs_(size_t(num_blocks), 0), tables_(size_t(max_sequences)) {
  if (block_size <= 0 || num_blocks <= 0) fail("KV cache: block size and block count must be positive");
  free_.reserve(size_t(num_blocks));
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(int32_t(b));
}

int32_t BlockAllocator::take() {
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[size_t(b)] = 1;
  return b;
}

void BlockAllocator::release(int32_t block) {
  if (--refs_[size_t(block)] == 0) free_.push_back(block);
}

std::vector<BlockAllocator::Copy> BlockAllocator::prepare_write(int seq, int64_t begin, int64_t end) {
  auto& t = tables_[size_t(seq)];
  const int64_t need = (end + block_size_ - 1) / block_size_;
  const int64_t first_written = begin / block_size_;
  int64_t shared_written = 0;
  for (int64_t b = first_written; b < std::min<int64_t>(need, int64_t(t.size())); ++b)
    shared_written += refs_[size_t(t[size_t(b)])] > 1 ? 1 : 0;
  const int64_t wanted = std::max<int64_t>(0, need - int64_t(t.size())) + shared_written;
  if (wanted > free_blocks())
    throw OutOfMemoryError(cat("KV cache full: sequence ", seq, " needs ", wanted, " more blocks of ",
                               block_size_, " tokens, ", free_blocks(), " of ", num_blocks(), " are free"));
  std::vector<Copy> copies;
  for (int64_t b = first_written; b < std::min<int64_t>(need, int64_t(t.size())); ++b) {
    int32_t& blk = t[size_t(b)];
    if (refs_[size_t(blk)] > 1) {
      const int32_t fresh = take();
      copies.push_back({blk, fresh});
      release(blk);
      blk = fresh;
    }
  }
  while (int64_t(t.size()) < need) t.push_back(take());
  return copies;
}

void BlockAllocator::truncate(int seq, int64_t length) {
  auto& t = tables_[size_t(seq)];
  const size_t keep = size_t((length + block_size_ - 1) / block_size_);
  while (t.size() > keep) {
    release(t.back());
    t.pop_back();
  }
}

void BlockAllocator::share(int src, int dst, int64_t length) {
  auto& d = tables_[size_t(dst)];
  if (!d.empty()) fail("KV cache: cannot share blocks into a sequence that holds some");
  const auto& s = tables_[size_t(src)];
  const size_t n = std::min(s.size(), size_t((length + block_size_ - 1) / block_size_));
  for (size_t i = 0; i < n; ++i) {
    d.push_back(s[i]);
    ++refs_[size_t(s[i])];
  }
}

int32_t BlockAllocator::slot(int seq, int64_t position) const {
  return tables_[size_t(seq)][size_t(position / block_size_)] * block_size_ + int32_t(position % block_size_);
}

}  // namespace r1
