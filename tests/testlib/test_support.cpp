#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/core/error.h"

namespace r1::test {

namespace {

// The build folder's paths, unless the environment moves them (a bundle run on another machine).
std::filesystem::path from_env(const char* var, const char* fallback) {
  const char* v = std::getenv(var);
  return v && *v ? v : fallback;
}

}  // namespace

std::filesystem::path fixtures() {
  return from_env("R1WB_FIXTURES_DIR", R1WB_FIXTURES);
}
std::filesystem::path downloaded() {
  return from_env("R1WB_TEST_DATA_DIR", R1WB_TEST_DATA);
}
std::filesystem::path bin_dir() {
  return from_env("R1WB_BIN_DIR", R1WB_BIN_DIR);
}

TempDir::TempDir() {
  std::random_device rd;
  path_ =
      std::filesystem::temp_directory_path() / ("r1wb-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error("cannot write " + path.string());
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcessResult run_program(const std::string& program, const std::vector<std::string>& args, int timeout_ms) {
  QProcess p;
  QStringList qargs;
  for (const auto& a : args) qargs << QString::fromStdString(a);
  p.start(QString::fromStdString((bin_dir() / program).string()), qargs);
  ProcessResult r;
  if (!p.waitForStarted(10000)) {
    r.err = "could not start " + program;
    return r;
  }
  if (!p.waitForFinished(timeout_ms)) {
    p.kill();
    p.waitForFinished();
    r.err = "timed out";
    r.crashed = true;
    return r;
  }
  r.crashed = p.exitStatus() == QProcess::CrashExit;
  r.exit_code = p.exitCode();
  r.out = p.readAllStandardOutput().toStdString();
  r.err = p.readAllStandardError().toStdString();
  return r;
}

void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  std::filesystem::copy(
      from, to, std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

}  // namespace r1::test
