// An application message as the broker routes it: immutable once built and shared by
// reference count between every subscriber, queue and the retained store (never copied per
// subscriber). Safe to read from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mqbase::broker {

using Clock = std::chrono::steady_clock;
class ClientLink;

// A count that copies of a Message do not share (a will's copy starts again at 0).
struct SettleCount {
  std::atomic<int32_t> n{0};
  SettleCount() = default;
  SettleCount(const SettleCount&) {}
  SettleCount& operator=(const SettleCount&) { return *this; }
};

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;      // QoS the publisher sent it with
  bool retain = false;  // the publisher's retain flag

  // MQTT 5 properties forwarded to subscribers (absent for 3.x publishers).
  std::optional<uint8_t> payload_format;
  std::optional<Clock::time_point> expires_at;  // from Message Expiry Interval
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::pair<std::string, std::string>> user_properties;  // in order

  // The session that published it (for No Local); null for wills and $SYS.
  const void* origin = nullptr;
  // When the broker received it (ns since the Unix epoch), for messages a MessageSink takes:
  // the time of their archived row, which a replay's seam compares (broker/replay.h). 0: not
  // stamped.
  int64_t received_ns = 0;

  // Store-and-forward in sync mode, for a QoS 1 message from a client (docs/durability.md,
  // "Acknowledged by the subscriber first"): the copies routed to durable sessions that their
  // subscribers have not acknowledged yet, plus one the publisher holds while it routes. At 0
  // every such copy has arrived, so the publisher's PUBACK need not wait for their records to
  // be on disk; `publisher` is then woken (ClientLink::wake_durable). Mutable: the message is
  // otherwise immutable and shared.
  mutable SettleCount unsettled;
  std::weak_ptr<ClientLink> publisher;  // set only when the PUBACK may go early

  bool has_v5_properties() const {
    return payload_format || expires_at || content_type || response_topic || correlation_data ||
           !user_properties.empty();
  }
  void clear_v5_properties() {
    payload_format.reset();
    expires_at.reset();
    content_type.reset();
    response_topic.reset();
    correlation_data.reset();
    user_properties.clear();
  }
  bool expired(Clock::time_point now) const { return expires_at && now >= *expires_at; }
};

using MessagePtr = std::shared_ptr<const Message>;

inline MessagePtr make_message(std::string topic, std::string payload, uint8_t qos, bool retain) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  m->retain = retain;
  return m;
}

}  // namespace mqbase::broker
