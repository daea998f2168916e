#include "mqtt/encoder.h"

#include <cstring>

#include "mqtt/varint.h"
#include "mqtt/wire.h"

namespace mqbase::mqtt {
namespace {

// Writes the fixed header, then the body that `body_fn` appends, patching nothing: the body
// length is computed first by `size`, so the bytes are written once, in order.
void header(std::string& out, PacketType t, uint8_t flags, size_t body_size) {
  out.push_back(static_cast<char>((static_cast<uint8_t>(t) << 4) | flags));
  encode_varint(static_cast<uint32_t>(body_size), out);
}

size_t props_size(Version v, const Properties& p) { return v == Version::v5 ? encoded_properties_size(p) : 0; }
void put_props(std::string& out, Version v, const Properties& p) {
  if (v == Version::v5) encode_properties(p, out);
}

struct Encoder {
  Version v;
  std::string& out;

  void operator()(const Connect& c) {
    bool v31 = c.version == Version::v31;
    std::string_view name = v31 ? "MQIsdp" : "MQTT";
    size_t n = 2 + name.size() + 1 + 1 + 2 + props_size(c.version, c.props) + 2 + c.client_id.size();
    if (c.will) n += props_size(c.version, c.will->props) + 2 + c.will->topic.size() + 2 + c.will->payload.size();
    if (c.username) n += 2 + c.username->size();
    if (c.password) n += 2 + c.password->size();
    header(out, PacketType::connect, 0, n);
    put_string(out, name);
    put_u8(out, static_cast<uint8_t>(c.version));
    uint8_t flags = 0;
    if (c.clean_start) flags |= 0x02;
    if (c.will) flags |= 0x04 | (c.will->qos << 3) | (c.will->retain ? 0x20 : 0);
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    put_u8(out, flags);
    put_u16(out, c.keep_alive);
    put_props(out, c.version, c.props);
    put_string(out, c.client_id);
    if (c.will) {
      put_props(out, c.version, c.will->props);
      put_string(out, c.will->topic);
      put_string(out, c.will->payload);
    }
    if (c.username) put_string(out, *c.username);
    if (c.password) put_string(out, *c.password);
  }

  void operator()(const Connack& c) {
    header(out, PacketType::connack, 0, 2 + props_size(v, c.props));
    put_u8(out, c.session_present ? 1 : 0);
    put_u8(out, c.code);
    put_props(out, v, c.props);
  }

  void operator()(const Publish& p) {
    encode_publish(out, v, p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id, &p.props);
  }

  void operator()(const PubAck& a) {
    uint8_t flags = a.type == PacketType::pubrel ? 0x2 : 0;
    // v5: reason code and properties may be omitted when success and no properties.
    bool full = v == Version::v5 && (a.reason != ReasonCode::success || !a.props.empty());
    bool with_props = full && !a.props.empty();
    header(out, a.type, flags, 2 + (full ? 1 : 0) + (with_props ? encoded_properties_size(a.props) : 0));
    put_u16(out, a.packet_id);
    if (full) put_u8(out, static_cast<uint8_t>(a.reason));
    if (with_props) encode_properties(a.props, out);
  }

  void operator()(const Subscribe& s) {
    size_t n = 2 + props_size(v, s.props);
    for (const auto& sub : s.subscriptions) n += 2 + sub.filter.size() + 1;
    header(out, PacketType::subscribe, 0x2, n);
    put_u16(out, s.packet_id);
    put_props(out, v, s.props);
    for (const auto& sub : s.subscriptions) {
      put_string(out, sub.filter);
      uint8_t o = sub.qos;
      if (v == Version::v5) {
        if (sub.no_local) o |= 0x04;
        if (sub.retain_as_published) o |= 0x08;
        o |= sub.retain_handling << 4;
      }
      put_u8(out, o);
    }
  }

  void operator()(const Suback& s) {
    header(out, PacketType::suback, 0, 2 + props_size(v, s.props) + s.codes.size());
    put_u16(out, s.packet_id);
    put_props(out, v, s.props);
    for (auto c : s.codes) put_u8(out, c);
  }

  void operator()(const Unsubscribe& u) {
    size_t n = 2 + props_size(v, u.props);
    for (auto f : u.filters) n += 2 + f.size();
    header(out, PacketType::unsubscribe, 0x2, n);
    put_u16(out, u.packet_id);
    put_props(out, v, u.props);
    for (auto f : u.filters) put_string(out, f);
  }

  void operator()(const Unsuback& u) {
    size_t n = 2 + (v == Version::v5 ? encoded_properties_size(u.props) + u.codes.size() : 0);
    header(out, PacketType::unsuback, 0, n);
    put_u16(out, u.packet_id);
    if (v == Version::v5) {
      encode_properties(u.props, out);
      for (auto c : u.codes) put_u8(out, c);
    }
  }

  void operator()(const Pingreq&) { header(out, PacketType::pingreq, 0, 0); }
  void operator()(const Pingresp&) { header(out, PacketType::pingresp, 0, 0); }

  void reason_and_props(PacketType t, ReasonCode reason, const Properties& props) {
    if (v != Version::v5 || (reason == ReasonCode::success && props.empty())) {
      header(out, t, 0, 0);
      return;
    }
    bool with_props = !props.empty();
    header(out, t, 0, 1 + (with_props ? encoded_properties_size(props) : 0));
    put_u8(out, static_cast<uint8_t>(reason));
    if (with_props) encode_properties(props, out);
  }
  void operator()(const Disconnect& d) { reason_and_props(PacketType::disconnect, d.reason, d.props); }
  void operator()(const Auth& a) { reason_and_props(PacketType::auth, a.reason, a.props); }
};

}  // namespace

void encode(const Packet& p, Version version, std::string& out) { std::visit(Encoder{version, out}, p); }

size_t publish_size(Version version, std::string_view topic, size_t payload_size, uint8_t qos,
                    const Properties* props) {
  size_t body = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload_size;
  if (version == Version::v5) body += props ? encoded_properties_size(*props) : 1;
  return 1 + varint_size(static_cast<uint32_t>(body)) + body;
}

void encode_publish(std::string& out, Version version, std::string_view topic, std::string_view payload,
                    uint8_t qos, bool retain, bool dup, uint16_t packet_id, const Properties* props) {
  size_t body = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  if (version == Version::v5) body += props ? encoded_properties_size(*props) : 1;
  uint8_t flags = static_cast<uint8_t>((dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
  // The hot path: fixed header, topic and packet id written through one pointer, then the
  // properties (v5) and the payload appended.
  char head[1 + 4 + 2];
  size_t n = 0;
  head[n++] = static_cast<char>((static_cast<uint8_t>(PacketType::publish) << 4) | flags);
  n += encode_varint(static_cast<uint32_t>(body), head + n);
  head[n++] = static_cast<char>(topic.size() >> 8);
  head[n++] = static_cast<char>(topic.size() & 0xFF);
  size_t start = out.size();
  out.resize(start + n + topic.size() + (qos > 0 ? 2 : 0));
  char* w = out.data() + start;
  std::memcpy(w, head, n);
  if (!topic.empty()) std::memcpy(w + n, topic.data(), topic.size());  // an aliased topic is empty (maybe null)
  if (qos > 0) {
    w[n + topic.size()] = static_cast<char>(packet_id >> 8);
    w[n + topic.size() + 1] = static_cast<char>(packet_id & 0xFF);
  }
  if (version == Version::v5) {
    if (props) {
      encode_properties(*props, out);
    } else {
      out.push_back(0);
    }
  }
  out.append(payload);
}

}  // namespace mqbase::mqtt
