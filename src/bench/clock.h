// The one clock of `mqbase bench`: CLOCK_MONOTONIC in nanoseconds. Publishers stamp it into
// payloads and subscribers subtract it on arrival, so latency is measured on one machine.
#pragma once
#include <cstdint>
#include <ctime>

namespace mqbase::bench {

inline int64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace mqbase::bench
