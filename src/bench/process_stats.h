// Reading another process's resource use from /proc, for --broker-pid and bench/compare.sh's
// figures: CPU seconds (utime + stime) and resident memory. Linux only; pure reads, safe from
// any thread.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace mqbase::bench {

// utime + stime of `pid` in seconds, from /proc/<pid>/stat; nullopt when it cannot be read.
std::optional<double> process_cpu_seconds(int pid);

// The same, parsed from the text of a /proc/<pid>/stat file (for the tests).
std::optional<double> parse_proc_stat_cpu_seconds(std::string_view stat, long ticks_per_second);

// CPU seconds this process has used (all threads).
double self_cpu_seconds();

// This process's virtual and resident memory in bytes, from /proc/self/statm ({0, 0} when it
// cannot be read).
struct MemoryBytes {
  uint64_t virtual_bytes = 0, resident_bytes = 0;
};
MemoryBytes self_memory_bytes();

// VmRSS of `pid` in kB, from /proc/<pid>/status; nullopt when it cannot be read.
std::optional<uint64_t> process_rss_kb(int pid);

}  // namespace mqbase::bench
