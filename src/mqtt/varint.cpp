#include "mqtt/varint.h"

#include "mqtt/types.h"

namespace mqbase::mqtt {

VarintResult decode_varint(std::string_view in) {
  uint32_t value = 0;
  uint32_t multiplier = 1;
  for (size_t i = 0; i < 4; ++i) {
    if (i >= in.size()) return {VarintStatus::need_more};
    auto byte = static_cast<uint8_t>(in[i]);
    value += (byte & 0x7Fu) * multiplier;
    if ((byte & 0x80u) == 0) {
      // A non-minimal encoding (e.g. 0x80 0x00) is accepted: the spec only bounds the length.
      return {VarintStatus::ok, value, i + 1};
    }
    multiplier *= 128;
  }
  return {VarintStatus::malformed};
}

size_t encode_varint(uint32_t value, char* out) {
  size_t n = 0;
  do {
    uint8_t byte = value % 128;
    value /= 128;
    if (value > 0) byte |= 0x80;
    out[n++] = static_cast<char>(byte);
  } while (value > 0);
  return n;
}

void encode_varint(uint32_t value, std::string& out) {
  char bytes[4];
  out.append(bytes, encode_varint(value, bytes));
}

size_t varint_size(uint32_t value) {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  return 4;
}

std::string_view packet_type_name(PacketType t) {
  switch (t) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
    default: return "RESERVED";
  }
}

}  // namespace mqbase::mqtt
