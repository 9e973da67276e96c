// Fuzz target: a safetensors image (length, JSON header, tensor bytes) as the loader receives it from a
// memory map. An accepted header must describe only bytes inside the image, each tensor's span matching its
// shape and dtype; every tensor's first and last byte is read so that the sanitizer sees a stray span.
#include "engine/core/error.h"
#include "engine/io/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const r1::SafetensorsHeader header = r1::parse_safetensors(data, size, "fuzz.safetensors");
    FUZZ_CHECK(header.buffer_offset >= 8 && header.buffer_offset <= size);
    unsigned checksum = 0;
    for (const r1::SafetensorsEntry& e : header.entries) {
      FUZZ_CHECK(e.begin <= e.end && e.end <= size - header.buffer_offset);
      uint64_t numel = 1;
      for (const int64_t d : e.shape) {
        FUZZ_CHECK(d >= 0);
        numel *= uint64_t(d);
      }
      FUZZ_CHECK(numel * r1::dtype_size(e.dtype) == e.end - e.begin);
      if (e.end > e.begin)
        checksum += data[header.buffer_offset + e.begin] + data[header.buffer_offset + e.end - 1];
    }
    FUZZ_CHECK(checksum <= 510 * header.entries.size());
  } catch (const r1::Error&) {
  }
  return 0;
}
