#include "host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "error.h"

namespace r1 {
namespace {

// One integer from a file such as memory.max; -1 when absent or "max".
int64_t read_number(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return -1;
  try {
    return std::stoll(word);
  } catch (const std::exception&) {
    return -1;
  }
}

int64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * page : 0;
}

}  // namespace

int64_t host_available_bytes() {
  int64_t avail = mem_available();
  const int64_t limit = read_number("/sys/fs/cgroup/memory.max");
  const int64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (limit > 0 && used >= 0) {
    const int64_t room = std::max<int64_t>(0, limit - used);
    avail = avail > 0 ? std::min(avail, room) : room;
  }
  if (const char* cap = std::getenv("R1WB_HOST_MEMORY_MB"); cap && *cap) {
    char* end = nullptr;
    const long long mb = std::strtoll(cap, &end, 10);
    if (end == cap || *end != '\0' || mb < 0)
      fail("R1WB_HOST_MEMORY_MB=\"", cap, "\": expected a whole number of MiB");
    const int64_t bytes = int64_t(mb) << 20;
    avail = avail > 0 ? std::min(avail, bytes) : bytes;
  }
  return avail;
}

void check_host_memory(std::string_view what, std::initializer_list<MemoryItem> items,
                       std::string_view hint) {
  int64_t need = 0;
  for (const MemoryItem& i : items) need += i.bytes;
  const int64_t avail = host_available_bytes();
  if (avail <= 0 || need <= avail) return;
  std::ostringstream os;
  os << what << " needs " << (need >> 20) << " MiB (";
  bool first = true;
  for (const MemoryItem& i : items) {
    os << (first ? "" : ", ") << i.name << " " << (i.bytes >> 20) << " MiB";
    first = false;
  }
  os << ") but " << (avail >> 20) << " MiB of host memory are available";
  if (!hint.empty()) os << "; " << hint;
  throw OutOfMemoryError(os.str());
}

}  // namespace r1
