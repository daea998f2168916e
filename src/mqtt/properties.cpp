#include "mqtt/properties.h"

#include "mqtt/utf8.h"
#include "mqtt/varint.h"
#include "mqtt/wire.h"

namespace mqbase::mqtt {
namespace {

constexpr uint32_t bit(PacketType t) { return 1u << static_cast<uint8_t>(t); }
constexpr uint32_t kWill = 1u << 16;  // pseudo packet type: CONNECT will properties

struct PropertyInfo {
  PropertyType type;
  uint32_t allowed;  // bit per PacketType, plus kWill
};

std::optional<PropertyInfo> info(uint8_t id) {
  using T = PacketType;
  using P = PropertyType;
  switch (static_cast<PropertyId>(id)) {
    case PropertyId::payload_format_indicator: return PropertyInfo{P::byte, bit(T::publish) | kWill};
    case PropertyId::message_expiry_interval: return PropertyInfo{P::four_byte, bit(T::publish) | kWill};
    case PropertyId::content_type: return PropertyInfo{P::utf8, bit(T::publish) | kWill};
    case PropertyId::response_topic: return PropertyInfo{P::utf8, bit(T::publish) | kWill};
    case PropertyId::correlation_data: return PropertyInfo{P::binary, bit(T::publish) | kWill};
    case PropertyId::subscription_identifier: return PropertyInfo{P::varint, bit(T::publish) | bit(T::subscribe)};
    case PropertyId::session_expiry_interval: return PropertyInfo{P::four_byte, bit(T::connect) | bit(T::connack) | bit(T::disconnect)};
    case PropertyId::assigned_client_identifier: return PropertyInfo{P::utf8, bit(T::connack)};
    case PropertyId::server_keep_alive: return PropertyInfo{P::two_byte, bit(T::connack)};
    case PropertyId::authentication_method: return PropertyInfo{P::utf8, bit(T::connect) | bit(T::connack) | bit(T::auth)};
    case PropertyId::authentication_data: return PropertyInfo{P::binary, bit(T::connect) | bit(T::connack) | bit(T::auth)};
    case PropertyId::request_problem_information: return PropertyInfo{P::byte, bit(T::connect)};
    case PropertyId::will_delay_interval: return PropertyInfo{P::four_byte, kWill};
    case PropertyId::request_response_information: return PropertyInfo{P::byte, bit(T::connect)};
    case PropertyId::response_information: return PropertyInfo{P::utf8, bit(T::connack)};
    case PropertyId::server_reference: return PropertyInfo{P::utf8, bit(T::connack) | bit(T::disconnect)};
    case PropertyId::reason_string:
      return PropertyInfo{P::utf8, bit(T::connack) | bit(T::puback) | bit(T::pubrec) | bit(T::pubrel) |
                                       bit(T::pubcomp) | bit(T::suback) | bit(T::unsuback) |
                                       bit(T::disconnect) | bit(T::auth)};
    case PropertyId::receive_maximum: return PropertyInfo{P::two_byte, bit(T::connect) | bit(T::connack)};
    case PropertyId::topic_alias_maximum: return PropertyInfo{P::two_byte, bit(T::connect) | bit(T::connack)};
    case PropertyId::topic_alias: return PropertyInfo{P::two_byte, bit(T::publish)};
    case PropertyId::maximum_qos: return PropertyInfo{P::byte, bit(T::connack)};
    case PropertyId::retain_available: return PropertyInfo{P::byte, bit(T::connack)};
    case PropertyId::user_property: return PropertyInfo{P::utf8_pair, 0xFFFFu | kWill};
    case PropertyId::maximum_packet_size: return PropertyInfo{P::four_byte, bit(T::connect) | bit(T::connack)};
    case PropertyId::wildcard_subscription_available: return PropertyInfo{P::byte, bit(T::connack)};
    case PropertyId::subscription_identifier_available: return PropertyInfo{P::byte, bit(T::connack)};
    case PropertyId::shared_subscription_available: return PropertyInfo{P::byte, bit(T::connack)};
  }
  return std::nullopt;
}

// Values the spec forbids for a well-typed property ("It is a Protocol Error to ...").
bool value_allowed(const Property& p) {
  switch (p.id) {
    case PropertyId::payload_format_indicator:
    case PropertyId::request_problem_information:
    case PropertyId::request_response_information:
    case PropertyId::maximum_qos:
    case PropertyId::retain_available:
    case PropertyId::wildcard_subscription_available:
    case PropertyId::subscription_identifier_available:
    case PropertyId::shared_subscription_available:
      return p.number <= 1;
    // Topic Alias 0 is left to the receiver, which answers 0x94 Topic Alias invalid.
    case PropertyId::receive_maximum:
    case PropertyId::maximum_packet_size:
    case PropertyId::subscription_identifier:
      return p.number != 0;
    default:
      return true;
  }
}

}  // namespace

const Property* Properties::find(PropertyId id) const {
  for (const auto& p : items)
    if (p.id == id) return &p;
  return nullptr;
}

std::optional<uint32_t> Properties::number(PropertyId id) const {
  if (const auto* p = find(id)) return p->number;
  return std::nullopt;
}

std::optional<std::string_view> Properties::string(PropertyId id) const {
  if (const auto* p = find(id)) return p->value;
  return std::nullopt;
}

std::optional<PropertyType> property_type(uint8_t id) {
  if (auto i = info(id)) return i->type;
  return std::nullopt;
}

bool property_allowed(PropertyId id, PacketType type, PropertyContext ctx) {
  auto i = info(static_cast<uint8_t>(id));
  if (!i) return false;
  uint32_t want = ctx == PropertyContext::will ? kWill : bit(type);
  return (i->allowed & want) != 0;
}

ReasonCode decode_properties(std::string_view& in, PacketType type, PropertyContext ctx, Properties& out) {
  auto len = decode_varint(in);
  if (len.status != VarintStatus::ok) return ReasonCode::malformed_packet;
  in.remove_prefix(len.length);
  if (len.value > in.size()) return ReasonCode::malformed_packet;
  Reader r{in.substr(0, len.value)};
  in.remove_prefix(len.value);
  uint64_t seen = 0;  // bit per property id (all ids are < 64)
  while (!r.empty()) {
    auto id_v = decode_varint(r.rest);
    if (id_v.status != VarintStatus::ok) return ReasonCode::malformed_packet;
    r.rest.remove_prefix(id_v.length);
    if (id_v.value > 0xFF) return ReasonCode::malformed_packet;
    auto pi = info(static_cast<uint8_t>(id_v.value));
    if (!pi) return ReasonCode::malformed_packet;
    Property p{static_cast<PropertyId>(id_v.value), 0, {}, {}};
    // 5.0 section 2.2.2.2: an identifier not valid for its packet type makes it malformed.
    if (!property_allowed(p.id, type, ctx)) return ReasonCode::malformed_packet;
    bool ok = true;
    switch (pi->type) {
      case PropertyType::byte: ok = r.u8(p.number); break;
      case PropertyType::two_byte: ok = r.u16(p.number); break;
      case PropertyType::four_byte: ok = r.u32(p.number); break;
      case PropertyType::varint: {
        auto v = decode_varint(r.rest);
        ok = v.status == VarintStatus::ok;
        if (ok) {
          p.number = v.value;
          r.rest.remove_prefix(v.length);
        }
        break;
      }
      case PropertyType::utf8: ok = r.utf8(p.value); break;
      case PropertyType::binary: ok = r.binary(p.value); break;
      case PropertyType::utf8_pair: ok = r.utf8(p.value) && r.utf8(p.value2); break;
    }
    if (!ok) return ReasonCode::malformed_packet;
    if (!value_allowed(p)) return ReasonCode::protocol_error;
    bool repeatable = p.id == PropertyId::user_property ||
                      (p.id == PropertyId::subscription_identifier && type == PacketType::publish);
    uint64_t mask = uint64_t{1} << id_v.value;
    if (!repeatable && (seen & mask)) return ReasonCode::protocol_error;
    seen |= mask;
    out.items.push_back(p);
  }
  return ReasonCode::success;
}

namespace {
size_t property_body_size(const Properties& props) {
  size_t n = 0;
  for (const auto& p : props.items) {
    n += 1;
    switch (*property_type(static_cast<uint8_t>(p.id))) {
      case PropertyType::byte: n += 1; break;
      case PropertyType::two_byte: n += 2; break;
      case PropertyType::four_byte: n += 4; break;
      case PropertyType::varint: n += varint_size(p.number); break;
      case PropertyType::utf8:
      case PropertyType::binary: n += 2 + p.value.size(); break;
      case PropertyType::utf8_pair: n += 4 + p.value.size() + p.value2.size(); break;
    }
  }
  return n;
}
}  // namespace

size_t encoded_properties_size(const Properties& props) {
  size_t body = property_body_size(props);
  return varint_size(static_cast<uint32_t>(body)) + body;
}

void encode_properties(const Properties& props, std::string& out) {
  encode_varint(static_cast<uint32_t>(property_body_size(props)), out);
  for (const auto& p : props.items) {
    out.push_back(static_cast<char>(p.id));
    switch (*property_type(static_cast<uint8_t>(p.id))) {
      case PropertyType::byte: put_u8(out, static_cast<uint8_t>(p.number)); break;
      case PropertyType::two_byte: put_u16(out, static_cast<uint16_t>(p.number)); break;
      case PropertyType::four_byte: put_u32(out, p.number); break;
      case PropertyType::varint: encode_varint(p.number, out); break;
      case PropertyType::utf8:
      case PropertyType::binary: put_string(out, p.value); break;
      case PropertyType::utf8_pair:
        put_string(out, p.value);
        put_string(out, p.value2);
        break;
    }
  }
}

}  // namespace mqbase::mqtt
