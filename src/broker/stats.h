// Broker-wide counters, published under $SYS and read by tests and benchmarks.
// Thread-safety: all members are atomics updated with relaxed ordering from any thread.
#pragma once
#include <atomic>
#include <cstdint>

namespace mqbase::broker {

struct Stats {
  std::atomic<uint64_t> clients_connected{0};
  std::atomic<uint64_t> clients_total{0};  // sessions known, connected or not
  std::atomic<uint64_t> clients_maximum{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> publish_received{0};
  std::atomic<uint64_t> publish_sent{0};
  std::atomic<uint64_t> publish_dropped{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> subscriptions{0};

  static void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static void sub(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_sub(n, std::memory_order_relaxed); }
  static uint64_t get(const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); }
};

}  // namespace mqbase::broker
