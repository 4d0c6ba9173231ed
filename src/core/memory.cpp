#include "core/memory.h"

#include <algorithm>
#include <fstream>
#include <string>

namespace kinema {
namespace {

// The first number of a one-line file ("max" and unreadable files give 0).
uint64_t read_number(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoull(text);
}

}  // namespace

uint64_t available_memory_bytes() {
  uint64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") {
      available = kib * 1024;
      break;
    }
  }
  const uint64_t limit = read_number("/sys/fs/cgroup/memory.max");
  const uint64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (limit > 0) {
    const uint64_t room = limit > used ? limit - used : 0;
    available = available == 0 ? room : std::min(available, room);
  }
  return available;
}

}  // namespace kinema
