// Broker-wide counters, published under $SYS and read by tests and benchmarks.
// Thread-safety: every counter may be updated from any thread. Each Counter is sharded: a
// thread adds to its own cache line (without a locked instruction: it is the only writer),
// and a read sums the shards, so event loops counting the same message flow do not bounce
// one cache line between cores on every message.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "broker/thread_slot.h"

namespace mqbase::broker {

class Counter {
 public:
  void add(uint64_t n) {
    size_t i = std::min(thread_slot(), kOwnedShards);
    auto& v = shards_[i].value;
    if (i < kOwnedShards)  // this thread is the shard's only writer: no locked instruction
      v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    else
      v.fetch_add(n, std::memory_order_relaxed);
  }
  // Subtraction may wrap a single shard; the sum over the shards is still exact (mod 2^64).
  void sub(uint64_t n) { add(uint64_t{0} - n); }
  uint64_t get() const {
    uint64_t sum = 0;
    for (const auto& s : shards_) sum += s.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  // Threads with the first kOwnedShards thread slots each own a shard, updated with a plain
  // load and store (a locked add on every message costs more than the count itself); the
  // other threads share the last shard, with atomic adds.
  static constexpr size_t kShards = 16;
  static constexpr size_t kOwnedShards = kShards - 1;
  struct alignas(64) Shard {
    std::atomic<uint64_t> value{0};
  };

  std::array<Shard, kShards> shards_;
};

struct Stats {
  Counter clients_connected;
  Counter clients_total;  // sessions known, connected or not
  Counter clients_maximum;
  Counter messages_received;
  Counter messages_sent;
  Counter publish_received;
  Counter publish_sent;
  Counter publish_dropped;
  Counter bytes_received;
  Counter bytes_sent;
  Counter sockets_open;  // accepted sockets not yet closed, before and after CONNECT
  Counter login_failures;  // CONNECTs refused for their credentials (or for none)
  Counter acl_denied;      // PUBLISH, SUBSCRIBE filters and deliveries the ACL refused

  static void add(Counter& c, uint64_t n = 1) { c.add(n); }
  static void sub(Counter& c, uint64_t n = 1) { c.sub(n); }
  static uint64_t get(const Counter& c) { return c.get(); }
};

}  // namespace mqbase::broker
