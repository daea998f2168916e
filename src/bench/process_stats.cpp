#include "bench/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace mqbase::bench {

std::optional<double> parse_proc_stat_cpu_seconds(std::string_view stat, long ticks_per_second) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields from
  // the last ')'. After it, field 3 (state) is the first; utime and stime are fields 14, 15.
  size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  uint64_t utime = 0, stime = 0;
  int field = 2;
  size_t i = 0;
  while (i < rest.size() && field < 15) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (start == i) break;
    ++field;
    uint64_t* target = field == 14 ? &utime : field == 15 ? &stime : nullptr;
    if (target && std::from_chars(rest.data() + start, rest.data() + i, *target).ec != std::errc{}) return std::nullopt;
  }
  if (field < 15) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(ticks_per_second);
}

std::optional<double> process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_proc_stat_cpu_seconds(ss.str(), ::sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

MemoryBytes self_memory_bytes() {
  uint64_t pages_virtual = 0, pages_resident = 0;
  std::ifstream("/proc/self/statm") >> pages_virtual >> pages_resident;
  uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return {pages_virtual * page, pages_resident * page};
}

std::optional<uint64_t> process_rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kb = 0;
    if (fields >> kb) return kb;
  }
  return std::nullopt;
}

}  // namespace mqbase::bench
