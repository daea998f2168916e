// Broker limits from the configuration. Plain values, read-only after start-up.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mqbase::broker {

struct Limits {
  uint32_t max_packet_size = 268'435'455;  // incoming packets, header included
  uint32_t max_queued_messages = 1000;     // QoS 1/2 waiting per session (offline or window full)
  uint32_t max_inflight_messages = 20;     // unacknowledged outgoing QoS 1/2 per session
  size_t max_write_buffer = 1 << 20;       // unsent bytes per connection before QoS 0 is dropped
  uint32_t connect_timeout_ms = 10'000;    // accept -> CONNECT
  uint32_t max_connections = 0;            // 0 = unlimited
  uint16_t max_keep_alive = 65535;         // larger client keep-alives are clamped (v5 tells the client)
  uint16_t receive_maximum = 65535;        // v5: QoS 2 PUBLISH awaiting PUBREL we accept per client
  uint16_t topic_alias_maximum = 10;       // v5: topic aliases a client may set on its PUBLISHes
  uint32_t max_topic_levels = 200;         // levels in a PUBLISH topic or SUBSCRIBE filter; 0 = unlimited
  // Retained messages clients may keep, by count and by bytes (topic + payload + v5
  // properties); $SYS is not counted. 0 = unlimited (mosquitto has no such limit either).
  size_t max_retained_messages = 0;
  size_t max_retained_bytes = 0;
};

}  // namespace mqbase::broker
