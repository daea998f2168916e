// The 15 MQTT control packets as plain structs. Decoded packets hold string views into the
// buffer they were decoded from (zero-copy): they are valid only while that buffer is
// unchanged. Packets built for encoding may point anywhere that outlives the encode call.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/properties.h"
#include "mqtt/reason_code.h"
#include "mqtt/types.h"

namespace mqbase::mqtt {

struct Will {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties props;  // v5 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::v311;
  bool clean_start = true;  // "Clean Session" in 3.x
  uint16_t keep_alive = 0;
  std::string_view client_id;
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;
  Properties props;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  uint8_t code = 0;  // 3.x return code, or v5 reason code
  Properties props;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string_view topic;
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // only when qos > 0
  Properties props;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
struct PubAck {
  PacketType type = PacketType::puback;
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;  // v5 only
  Properties props;
  bool operator==(const PubAck&) const = default;
};

struct Subscription {
  std::string_view filter;
  uint8_t qos = 0;
  bool no_local = false;             // v5
  bool retain_as_published = false;  // v5
  uint8_t retain_handling = 0;       // v5
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;
  Properties props;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> codes;  // granted QoS or 0x80 (3.x); reason codes (v5)
  Properties props;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
  Properties props;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> codes;  // v5 only; empty for 3.x
  Properties props;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason = ReasonCode::success;  // v5 only
  Properties props;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  ReasonCode reason = ReasonCode::success;
  Properties props;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PubAck, Subscribe, Suback, Unsubscribe, Unsuback,
                            Pingreq, Pingresp, Disconnect, Auth>;

PacketType type_of(const Packet& p);

}  // namespace mqbase::mqtt
