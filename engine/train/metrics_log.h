#pragma once
// A run's per-step metrics file: one JSON object per line, appended (a resumed run continues the same file)
// and flushed after every step so that a crash loses at most the step in progress. Nothing is written without
// a path.
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/core/error.h"

namespace r1 {

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path) {
    if (path.empty()) return;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    out_.open(path, std::ios::app);
    if (!out_) fail(path.string(), ": cannot open for writing");
  }
  void write(const std::string& json_line) {
    if (!out_.is_open()) return;
    out_ << json_line << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace r1
