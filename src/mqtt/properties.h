// MQTT 5 properties: identifiers, their data types, and which packets may carry them.
// A decoded Properties holds views into the packet buffer (zero-copy); it is valid only while
// that buffer is. Pure data and functions, safe from any thread.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/reason_code.h"
#include "mqtt/types.h"

namespace mqbase::mqtt {

enum class PropertyId : uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

enum class PropertyType : uint8_t { byte, two_byte, four_byte, varint, utf8, binary, utf8_pair };

// One property. Numbers live in `number`; strings and binary data in `value`; a user
// property's name in `value` and its value in `value2`.
struct Property {
  PropertyId id;
  uint32_t number = 0;
  std::string_view value;
  std::string_view value2;
  bool operator==(const Property&) const = default;
};

// Where a property block sits: a packet type, or the will properties inside CONNECT.
enum class PropertyContext : uint8_t { will = 0, packet = 1 };

struct Properties {
  std::vector<Property> items;

  bool empty() const { return items.empty(); }
  const Property* find(PropertyId id) const;
  std::optional<uint32_t> number(PropertyId id) const;
  std::optional<std::string_view> string(PropertyId id) const;
  void add_number(PropertyId id, uint32_t n) { items.push_back({id, n, {}, {}}); }
  void add_string(PropertyId id, std::string_view s) { items.push_back({id, 0, s, {}}); }
  void add_user(std::string_view name, std::string_view value) {
    items.push_back({PropertyId::user_property, 0, name, value});
  }
  bool operator==(const Properties&) const = default;
};

// The data type of `id`, or nullopt for an identifier MQTT 5 does not define.
std::optional<PropertyType> property_type(uint8_t id);

// True when `id` may appear in a packet of `type` (or in CONNECT's will properties when
// `ctx` is will).
bool property_allowed(PropertyId id, PacketType type, PropertyContext ctx = PropertyContext::packet);

// Decodes a property block (length varint then properties) from the front of `in`, advancing
// it. Checks identifiers, placement, duplicates and values. Returns success, or the reason the
// packet must be refused (malformed_packet / protocol_error).
ReasonCode decode_properties(std::string_view& in, PacketType type, PropertyContext ctx, Properties& out);

// Appends the encoded block (length varint then properties) to `out`.
void encode_properties(const Properties& props, std::string& out);
// Bytes encode_properties would append.
size_t encoded_properties_size(const Properties& props);

}  // namespace mqbase::mqtt
