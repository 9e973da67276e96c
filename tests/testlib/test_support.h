#pragma once
// Helpers shared by the test suites: fixture paths, temporary folders, running r1wb, random inputs.
#include <QtTest/QtTest>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace r1::test {

std::filesystem::path fixtures();    // tests/fixtures (committed)
std::filesystem::path downloaded();  // tests/data (fetched by tools/fetch_test_data.sh)
std::filesystem::path bin_dir();     // where r1wb is built

// A fresh temporary folder removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);

struct ProcessResult {
  int exit_code = -1;
  bool crashed = false;  // ended by a signal
  std::string out, err;
};

// Runs bin_dir()/program with args; waits up to timeout_ms.
ProcessResult run_program(const std::string& program, const std::vector<std::string>& args,
                          int timeout_ms = 120000);

// Copies a folder recursively (fixture models are copied before a test corrupts them).
void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to);

// n normal draws (mean, scale) from a generator seeded with `seed`.
inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace r1::test

// Checks that `expr` throws r1::Error whose message contains every listed fragment.
#define R1_EXPECT_ERROR(expr, ...)                                                                 \
  do {                                                                                             \
    bool r1_thrown = false;                                                                        \
    try {                                                                                          \
      (void)(expr);                                                                                \
    } catch (const r1::Error& r1_err) {                                                            \
      r1_thrown = true;                                                                            \
      const std::string r1_msg = r1_err.what();                                                    \
      for (const char* r1_frag : {__VA_ARGS__})                                                    \
        QVERIFY2(r1_msg.find(r1_frag) != std::string::npos,                                        \
                 qPrintable(QString("message \"%1\" lacks \"%2\"").arg(r1_msg.c_str(), r1_frag))); \
    }                                                                                              \
    QVERIFY2(r1_thrown, "expected r1::Error from " #expr);                                         \
  } while (0)
