#pragma once
// File access: read-only memory maps, whole-file reads, and atomic writes (temp file, fsync, rename) so a
// crash never leaves a half-written file under the final name.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace r1 {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

std::string read_text_file(const std::filesystem::path& path);

// Calls write(out) on a temporary file beside `path`, flushes it to disk, then renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, const std::function<void(std::FILE* out)>& write);
void write_text_file_atomic(const std::filesystem::path& path, std::string_view text);

}  // namespace r1
