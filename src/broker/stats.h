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

// Why a message was not delivered (or not routed): /metrics' mqbase_messages_dropped_total{reason}.
enum class DropReason : uint8_t {
  queue_full,         // a session's queue was at limits.max_queued_messages
  slow_client,        // QoS 0 to a connection whose unsent bytes were over its limit
  too_large,          // over the client's Maximum Packet Size [MQTT-3.1.2-25]
  not_authorized,     // a PUBLISH to $SYS, or one the ACL refused
  no_share_member,    // a shared subscription's message with no member's session left
  count_
};
inline const char* drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::queue_full: return "queue_full";
    case DropReason::slow_client: return "slow_client";
    case DropReason::too_large: return "too_large";
    case DropReason::not_authorized: return "not_authorized";
    case DropReason::no_share_member: return "no_share_member";
    case DropReason::count_: break;
  }
  return "other";
}

struct Stats {
  Counter clients_connected;
  Counter clients_total;  // sessions known, connected or not
  Counter messages_received;
  Counter messages_sent;
  Counter publish_dropped;
  Counter bytes_received;
  Counter bytes_sent;
  Counter sockets_open;  // accepted sockets not yet closed, before and after CONNECT
  Counter login_failures;  // CONNECTs refused for their credentials (or for none)
  Counter acl_denied;      // PUBLISH, SUBSCRIBE filters and deliveries the ACL refused
  // PUBLISH packets received and sent, and their payload bytes, by QoS.
  std::array<Counter, 3> publish_received_qos, publish_sent_qos;
  std::array<Counter, 3> payload_bytes_received_qos, payload_bytes_sent_qos;
  std::array<Counter, static_cast<size_t>(DropReason::count_)> dropped_by_reason;

  uint64_t publish_received_total() const {
    return publish_received_qos[0].get() + publish_received_qos[1].get() + publish_received_qos[2].get();
  }
  uint64_t publish_sent_total() const {
    return publish_sent_qos[0].get() + publish_sent_qos[1].get() + publish_sent_qos[2].get();
  }
  // A PUBLISH received or sent, counted with its payload.
  void received(uint8_t qos, size_t payload) {
    publish_received_qos[qos > 2 ? 2 : qos].add(1);
    payload_bytes_received_qos[qos > 2 ? 2 : qos].add(payload);
  }
  void sent(uint8_t qos, size_t payload) {
    publish_sent_qos[qos > 2 ? 2 : qos].add(1);
    payload_bytes_sent_qos[qos > 2 ? 2 : qos].add(payload);
  }
  // A message dropped: publish_dropped and its reason.
  void drop(DropReason r) {
    publish_dropped.add(1);
    dropped_by_reason[static_cast<size_t>(r)].add(1);
  }

  static void add(Counter& c, uint64_t n = 1) { c.add(n); }
  static void sub(Counter& c, uint64_t n = 1) { c.sub(n); }
  static uint64_t get(const Counter& c) { return c.get(); }
};

}  // namespace mqbase::broker
