// Basic MQTT vocabulary shared by every part: packet types, protocol versions, QoS.
// Pure values; no state, safe from any thread.
#pragma once
#include <cstdint>
#include <string_view>

namespace mqbase::mqtt {

enum class PacketType : uint8_t {
  reserved = 0,
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

// The protocol level byte of CONNECT: 3 is MQTT 3.1 ("MQIsdp"), 4 is 3.1.1, 5 is 5.0.
enum class Version : uint8_t { v31 = 3, v311 = 4, v5 = 5 };

inline constexpr uint8_t kMaxQos = 2;
// Largest value the four-byte Remaining Length can carry (268,435,455).
inline constexpr uint32_t kMaxRemainingLength = 268'435'455;

std::string_view packet_type_name(PacketType t);

}  // namespace mqbase::mqtt
