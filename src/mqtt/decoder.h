// Decoding MQTT packets from bytes: first the fixed header (framing), then the body.
// Incremental: `parse_fixed_header` says `need_more` until a whole packet is buffered, so a
// packet split across reads at any byte boundary decodes the same. Zero-copy: decoded packets
// view into the caller's buffer. Pure functions, safe from any thread.
#pragma once
#include <cstdint>
#include <string_view>

#include "mqtt/packet.h"
#include "mqtt/reason_code.h"
#include "mqtt/types.h"

namespace mqbase::mqtt {

struct FixedHeader {
  PacketType type = PacketType::reserved;
  uint8_t flags = 0;              // low nibble of the first byte
  uint32_t remaining_length = 0;  // body bytes
  uint32_t header_length = 0;     // 1 + varint bytes
  size_t total() const { return size_t{header_length} + remaining_length; }
};

enum class FrameStatus {
  ok,         // a whole packet is in the buffer: header + remaining_length bytes
  need_more,  // the buffer ends inside the packet (header fields still filled when known)
  malformed,  // the Remaining Length is not a valid varint
  too_large,  // total size exceeds max_packet_size
};

// Reads the fixed header at the front of `in`. When the Remaining Length is known it is
// checked against `max_packet_size` (the whole packet, header included) before the body
// arrives, so an oversized packet is refused without buffering it.
FrameStatus parse_fixed_header(std::string_view in, uint32_t max_packet_size, FixedHeader& out);

struct DecodeResult {
  ReasonCode reason = ReasonCode::success;  // success, or why the packet is refused
  std::string_view error;                  // a short description for logs and reason strings
  bool ok() const { return reason == ReasonCode::success; }
};

// Decodes the body of a packet whose fixed header is `h`. `version` is the protocol of the
// connection (ignored for CONNECT, which carries its own). On failure `out` is unspecified and
// the result says why: malformed_packet / protocol_error (close the connection; v5 DISCONNECT
// with that reason), or unsupported_protocol_version for a CONNECT of an unknown level
// (answer CONNACK 0x01, then close); for that case out holds a default Connect at 3.1.1, the
// form of CONNACK an unknown client is answered in.
DecodeResult decode_packet(const FixedHeader& h, std::string_view body, Version version, Packet& out);

}  // namespace mqbase::mqtt
