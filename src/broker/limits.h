// Broker limits from the configuration. Plain values, read-only after start-up.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mqbase::broker {

// What a session does when a connected subscriber's queue reaches its limit.
enum class QueueFullPolicy : uint8_t {
  // Keep the message and stop reading the publishers that feed the session until it drains:
  // nothing acknowledged is lost, a slow subscriber slows its publishers.
  backpressure,
  drop,  // drop the newest message (counted), as mosquitto does
};

struct Limits {
  uint32_t max_packet_size = 268'435'455;  // incoming packets, header included
  uint32_t max_queued_messages = 1000;     // QoS 1/2 waiting per session (offline or window full)
  uint64_t max_queued_bytes = 64 << 20;    // payload + topic bytes of those, 0 = unlimited
  QueueFullPolicy queue_full_policy = QueueFullPolicy::backpressure;  // for connected sessions
  uint32_t max_inflight_messages = 20;     // unacknowledged outgoing QoS 1/2 per session
  size_t max_write_buffer = 1 << 20;       // unsent bytes per connection before QoS 0 is dropped
  size_t max_unsent_bytes = 64 << 20;      // unsent bytes of any kind before the client is disconnected
  uint32_t connect_timeout_ms = 10'000;    // accept -> CONNECT
  uint32_t max_connections = 0;            // sockets, connected or not; 0 = unlimited
  uint32_t max_sessions = 1'000'000;       // sessions, connected or not; 0 = unlimited
  uint32_t max_subscriptions_per_client = 10'000;  // 0 = unlimited
  uint16_t max_keep_alive = 65535;         // larger client keep-alives are clamped (v5 tells the client)
  uint16_t receive_maximum = 128;          // v5: unacknowledged QoS 1/2 PUBLISH we accept per client
  uint16_t topic_alias_maximum = 10;       // v5: topic aliases a client may set on its PUBLISHes
  uint32_t max_topic_levels = 200;         // levels in a PUBLISH topic or SUBSCRIBE filter; 0 = unlimited
  // Retained messages clients may keep, by count and by bytes (topic + payload + v5
  // properties); $SYS is not counted. 0 = unlimited (mosquitto has no such limit).
  size_t max_retained_messages = 1'000'000;
  size_t max_retained_bytes = size_t{1} << 30;
};

}  // namespace mqbase::broker
