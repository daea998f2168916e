#include "mqtt/decoder.h"

#include "mqtt/topic.h"
#include "mqtt/utf8.h"
#include "mqtt/varint.h"
#include "mqtt/wire.h"

namespace mqbase::mqtt {
namespace {

DecodeResult fail(ReasonCode r, std::string_view why) { return {r, why}; }
DecodeResult malformed(std::string_view why) { return {ReasonCode::malformed_packet, why}; }
DecodeResult protocol_error(std::string_view why) { return {ReasonCode::protocol_error, why}; }
constexpr DecodeResult kOk{};

// Fixed-header flags every packet type but PUBLISH must carry ([MQTT-2.2.2-1/2]).
uint8_t required_flags(PacketType t) {
  switch (t) {
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return 0x2;
    default: return 0x0;
  }
}

// MQTT 3.1 let a client set DUP (with QoS 1) on a PUBREL it sends again after reconnecting;
// 3.1.1 fixed PUBREL's flags to 0x02 ([MQTT-3.6.1-1]). So 0x0A is accepted from 3.1 only.
bool mqtt31_pubrel_resend(const FixedHeader& h, Version version) {
  return version == Version::v31 && h.type == PacketType::pubrel && h.flags == 0x0A;
}

DecodeResult read_props(Reader& r, PacketType t, Properties& props, PropertyContext ctx = PropertyContext::packet) {
  ReasonCode rc = decode_properties(r.rest, t, ctx, props);
  if (rc != ReasonCode::success) return fail(rc, "invalid properties");
  return kOk;
}

DecodeResult decode_connect(Reader& r, Packet& out) {
  Connect c;
  std::string_view name;
  uint32_t level, flags, keep_alive;
  if (!r.utf8(name) || !r.u8(level)) return malformed("truncated CONNECT header");
  if (name == "MQIsdp") {
    if (level != 3) {
      out = Connect{};
      return fail(ReasonCode::unsupported_protocol_version, "MQIsdp with a level other than 3");
    }
    c.version = Version::v31;
  } else if (name == "MQTT") {
    if (level != 4 && level != 5) {
      out = Connect{};
      return fail(ReasonCode::unsupported_protocol_version, "unsupported protocol level");
    }
    c.version = static_cast<Version>(level);
  } else {
    return protocol_error("unknown protocol name");
  }
  if (!r.u8(flags) || !r.u16(keep_alive)) return malformed("truncated CONNECT header");
  if (flags & 0x01) return malformed("CONNECT reserved flag set");
  c.clean_start = flags & 0x02;
  c.keep_alive = static_cast<uint16_t>(keep_alive);
  bool will = flags & 0x04;
  uint8_t will_qos = (flags >> 3) & 0x03;
  bool will_retain = flags & 0x20;
  bool has_password = flags & 0x40;
  bool has_username = flags & 0x80;
  if (will_qos > kMaxQos) return malformed("will QoS 3");
  if (!will && (will_qos != 0 || will_retain)) return malformed("will QoS or retain without will flag");
  if (c.version != Version::v5 && has_password && !has_username)
    return malformed("password flag without user name flag");
  if (c.version == Version::v5) {
    if (auto d = read_props(r, PacketType::connect, c.props); !d.ok()) return d;
  }
  if (!r.utf8(c.client_id)) return malformed("bad client identifier");
  if (will) {
    Will w;
    w.qos = will_qos;
    w.retain = will_retain;
    if (c.version == Version::v5) {
      if (auto d = read_props(r, PacketType::connect, w.props, PropertyContext::will); !d.ok()) return d;
    }
    if (!r.utf8(w.topic)) return malformed("bad will topic");
    if (!valid_topic_name(w.topic)) return fail(ReasonCode::topic_name_invalid, "invalid will topic");
    if (!r.binary(w.payload)) return malformed("bad will payload");
    c.will = std::move(w);
  }
  if (has_username) {
    std::string_view u;
    if (!r.utf8(u)) return malformed("bad user name");
    c.username = u;
  }
  if (has_password) {
    std::string_view p;
    if (!r.binary(p)) return malformed("bad password");
    c.password = p;
  }
  if (!r.empty()) return malformed("trailing bytes after CONNECT payload");
  out = std::move(c);
  return kOk;
}

DecodeResult decode_connack(Reader& r, Version v, Packet& out) {
  Connack c;
  uint32_t flags, code;
  if (!r.u8(flags) || !r.u8(code)) return malformed("truncated CONNACK");
  if (flags & 0xFE) return malformed("CONNACK reserved flags set");
  c.session_present = flags & 1;
  c.code = static_cast<uint8_t>(code);
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::connack, c.props); !d.ok()) return d;
  }
  if (!r.empty()) return malformed("trailing bytes after CONNACK");
  out = std::move(c);
  return kOk;
}

DecodeResult decode_publish(const FixedHeader& h, Reader& r, Version v, Packet& out) {
  Publish p;
  p.dup = h.flags & 0x08;
  p.qos = (h.flags >> 1) & 0x03;
  p.retain = h.flags & 0x01;
  if (p.qos > kMaxQos) return malformed("PUBLISH with QoS 3");
  if (p.qos == 0 && p.dup) return malformed("DUP set on a QoS 0 PUBLISH");
  // UTF-8 is checked once, below with the rest of the topic rules (not here and again there).
  if (!r.binary(p.topic)) return malformed("bad topic name");
  if (p.qos > 0) {
    uint32_t id;
    if (!r.u16(id)) return malformed("truncated packet identifier");
    if (id == 0) return malformed("packet identifier 0");
    p.packet_id = static_cast<uint16_t>(id);
  }
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::publish, p.props); !d.ok()) return d;
    // An empty topic is allowed in v5 when a Topic Alias stands for it (checked by the broker).
    if (!valid_utf8(p.topic)) return malformed("bad topic name");
    if (has_wildcard(p.topic))
      return fail(ReasonCode::topic_name_invalid, "wildcard in topic name");
  } else if (!valid_topic_name(p.topic)) {
    return malformed("invalid topic name");
  }
  p.payload = r.rest;
  out = std::move(p);
  return kOk;
}

bool valid_ack_reason(PacketType t, uint8_t code) {
  if (t == PacketType::pubrel || t == PacketType::pubcomp) return code == 0x00 || code == 0x92;
  switch (code) {
    case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91: case 0x97: case 0x99:
      return true;
    default:
      return false;
  }
}

DecodeResult decode_puback(const FixedHeader& h, Reader& r, Version v, Packet& out) {
  PubAck a;
  a.type = h.type;
  uint32_t id;
  if (!r.u16(id)) return malformed("truncated packet identifier");
  if (id == 0) return malformed("packet identifier 0");
  a.packet_id = static_cast<uint16_t>(id);
  if (v == Version::v5 && !r.empty()) {
    uint32_t code;
    r.u8(code);
    if (!valid_ack_reason(h.type, static_cast<uint8_t>(code))) return malformed("invalid reason code");
    a.reason = static_cast<ReasonCode>(code);
    if (!r.empty()) {
      if (auto d = read_props(r, h.type, a.props); !d.ok()) return d;
    }
  }
  if (!r.empty()) return malformed("trailing bytes after acknowledgement");
  out = std::move(a);
  return kOk;
}

DecodeResult decode_subscribe(Reader& r, Version v, Packet& out) {
  Subscribe s;
  uint32_t id;
  if (!r.u16(id)) return malformed("truncated packet identifier");
  if (id == 0) return malformed("packet identifier 0");
  s.packet_id = static_cast<uint16_t>(id);
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::subscribe, s.props); !d.ok()) return d;
  }
  while (!r.empty()) {
    Subscription sub;
    uint32_t options;
    if (!r.utf8(sub.filter)) return malformed("bad topic filter");
    if (sub.filter.empty()) return malformed("empty topic filter");
    if (!r.u8(options)) return malformed("missing subscription options");
    sub.qos = options & 0x03;
    if (v == Version::v5) {
      // 5.0 section 3.8.3.1: QoS 3 and Retain Handling 3 are protocol errors; reserved bits malformed.
      if (sub.qos > kMaxQos) return protocol_error("requested QoS 3");
      if (options & 0xC0) return malformed("reserved subscription option bits set");
      sub.no_local = options & 0x04;
      sub.retain_as_published = options & 0x08;
      sub.retain_handling = (options >> 4) & 0x03;
      if (sub.retain_handling == 3) return protocol_error("retain handling 3");
    } else if (sub.qos > kMaxQos) {
      return malformed("requested QoS 3");
    } else if (options & 0xFC) {
      return malformed("reserved bits set in requested QoS byte");
    }
    s.subscriptions.push_back(sub);
  }
  if (s.subscriptions.empty()) return protocol_error("SUBSCRIBE without a topic filter");
  out = std::move(s);
  return kOk;
}

DecodeResult decode_suback(Reader& r, Version v, Packet& out) {
  Suback s;
  uint32_t id;
  if (!r.u16(id)) return malformed("truncated packet identifier");
  s.packet_id = static_cast<uint16_t>(id);
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::suback, s.props); !d.ok()) return d;
  }
  for (char c : r.rest) s.codes.push_back(static_cast<uint8_t>(c));
  if (s.codes.empty()) return malformed("SUBACK without return codes");
  out = std::move(s);
  return kOk;
}

DecodeResult decode_unsubscribe(Reader& r, Version v, Packet& out) {
  Unsubscribe u;
  uint32_t id;
  if (!r.u16(id)) return malformed("truncated packet identifier");
  if (id == 0) return malformed("packet identifier 0");
  u.packet_id = static_cast<uint16_t>(id);
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::unsubscribe, u.props); !d.ok()) return d;
  }
  while (!r.empty()) {
    std::string_view f;
    if (!r.utf8(f)) return malformed("bad topic filter");
    if (f.empty()) return malformed("empty topic filter");
    u.filters.push_back(f);
  }
  if (u.filters.empty()) return protocol_error("UNSUBSCRIBE without a topic filter");
  out = std::move(u);
  return kOk;
}

DecodeResult decode_unsuback(Reader& r, Version v, Packet& out) {
  Unsuback u;
  uint32_t id;
  if (!r.u16(id)) return malformed("truncated packet identifier");
  u.packet_id = static_cast<uint16_t>(id);
  if (v == Version::v5) {
    if (auto d = read_props(r, PacketType::unsuback, u.props); !d.ok()) return d;
    for (char c : r.rest) u.codes.push_back(static_cast<uint8_t>(c));
    r.rest = {};
  }
  if (!r.empty()) return malformed("trailing bytes after UNSUBACK");
  out = std::move(u);
  return kOk;
}

// DISCONNECT and AUTH (v5): optional reason code, optional properties.
template <typename T>
DecodeResult decode_reason_and_props(PacketType t, Reader& r, Version v, Packet& out) {
  T p;
  if (v == Version::v5 && !r.empty()) {
    uint32_t code;
    r.u8(code);
    p.reason = static_cast<ReasonCode>(code);
    if (!r.empty()) {
      if (auto d = read_props(r, t, p.props); !d.ok()) return d;
    }
  }
  if (!r.empty()) return malformed("unexpected bytes in packet body");
  out = std::move(p);
  return kOk;
}

}  // namespace

FrameStatus parse_fixed_header(std::string_view in, uint32_t max_packet_size, FixedHeader& out) {
  if (in.empty()) return FrameStatus::need_more;
  auto first = static_cast<uint8_t>(in[0]);
  out.type = static_cast<PacketType>(first >> 4);
  out.flags = first & 0x0F;
  auto len = decode_varint(in.substr(1));
  if (len.status == VarintStatus::malformed) return FrameStatus::malformed;
  if (len.status == VarintStatus::need_more) return FrameStatus::need_more;
  out.remaining_length = len.value;
  out.header_length = static_cast<uint32_t>(1 + len.length);
  if (out.total() > max_packet_size) return FrameStatus::too_large;
  if (in.size() < out.total()) return FrameStatus::need_more;
  return FrameStatus::ok;
}

DecodeResult decode_packet(const FixedHeader& h, std::string_view body, Version version, Packet& out) {
  if (h.type == PacketType::reserved) return malformed("reserved packet type 0");
  if (h.type == PacketType::auth && version != Version::v5) return malformed("AUTH before MQTT 5");
  if (h.type != PacketType::publish && h.flags != required_flags(h.type) && !mqtt31_pubrel_resend(h, version))
    return malformed("invalid fixed header flags");
  Reader r{body};
  switch (h.type) {
    case PacketType::connect: return decode_connect(r, out);
    case PacketType::connack: return decode_connack(r, version, out);
    case PacketType::publish: return decode_publish(h, r, version, out);
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: return decode_puback(h, r, version, out);
    case PacketType::subscribe: return decode_subscribe(r, version, out);
    case PacketType::suback: return decode_suback(r, version, out);
    case PacketType::unsubscribe: return decode_unsubscribe(r, version, out);
    case PacketType::unsuback: return decode_unsuback(r, version, out);
    case PacketType::pingreq:
      if (!body.empty()) return malformed("PINGREQ with a body");
      out = Pingreq{};
      return kOk;
    case PacketType::pingresp:
      if (!body.empty()) return malformed("PINGRESP with a body");
      out = Pingresp{};
      return kOk;
    case PacketType::disconnect: return decode_reason_and_props<Disconnect>(h.type, r, version, out);
    case PacketType::auth: return decode_reason_and_props<Auth>(h.type, r, version, out);
    default: return malformed("unknown packet type");
  }
}

PacketType type_of(const Packet& p) {
  struct V {
    PacketType operator()(const Connect&) const { return PacketType::connect; }
    PacketType operator()(const Connack&) const { return PacketType::connack; }
    PacketType operator()(const Publish&) const { return PacketType::publish; }
    PacketType operator()(const PubAck& a) const { return a.type; }
    PacketType operator()(const Subscribe&) const { return PacketType::subscribe; }
    PacketType operator()(const Suback&) const { return PacketType::suback; }
    PacketType operator()(const Unsubscribe&) const { return PacketType::unsubscribe; }
    PacketType operator()(const Unsuback&) const { return PacketType::unsuback; }
    PacketType operator()(const Pingreq&) const { return PacketType::pingreq; }
    PacketType operator()(const Pingresp&) const { return PacketType::pingresp; }
    PacketType operator()(const Disconnect&) const { return PacketType::disconnect; }
    PacketType operator()(const Auth&) const { return PacketType::auth; }
  };
  return std::visit(V{}, p);
}

}  // namespace mqbase::mqtt
