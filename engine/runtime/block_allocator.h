#pragma once
// Block bookkeeping of a paged KV cache: a pool of fixed-size blocks planned at load time, a block table
// per sequence, reference counts so that sequences forked from one prompt share its full blocks, and
// copy-on-write when a sequence is about to write into a block it shares. Host-side only; the backend
// owns the memory and performs the copies it is told about.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace r1 {

class BlockAllocator {
 public:
  BlockAllocator(int64_t num_blocks, int32_t block_size, int max_sequences);

  struct Copy {
    int32_t from, to;
  };

  // Makes seq own writable blocks for positions [begin, end): allocates missing blocks and replaces shared
  // ones by private copies (returned, for the backend to copy). Throws OutOfMemoryError when the pool is
  // exhausted, leaving the tables as they were.
  std::vector<Copy> prepare_write(int seq, int64_t begin, int64_t end);

  // Keeps the blocks holding positions [0, length) and releases the rest.
  void truncate(int seq, int64_t length);

  // dst takes src's blocks for [0, length) by reference (dst must be empty).
  void share(int src, int dst, int64_t length);

  const std::vector<int32_t>& table(int seq) const { return tables_[size_t(seq)]; }
  int32_t slot(int seq, int64_t position) const;
  int32_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return int64_t(refs_.size()); }
  int64_t free_blocks() const { return int64_t(free_.size()); }
  int64_t used_blocks() const { return num_blocks() - free_blocks(); }
  int32_t refs(int32_t block) const { return refs_[size_t(block)]; }

 private:
  int32_t take();
  void release(int32_t block);

  int32_t block_size_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
  std::vector<std::vector<int32_t>> tables_;
};

}  // namespace r1
