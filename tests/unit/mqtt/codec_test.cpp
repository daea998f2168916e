// The packet codec end to end: every packet type round-trips (encode -> parse_fixed_header ->
// decode_packet -> equal) at protocol levels 3 (MQIsdp), 4 and 5; known byte vectors computed
// by hand from the 3.1.1 and 5.0 specs; incremental framing with the input split at every
// byte boundary; and the PUBLISH fast path.
#include "hex.h"
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "mqtt/decoder.h"
#include "mqtt/encoder.h"
#include "mqtt/packet.h"
#include "mqtt/reason_code.h"

namespace mqbase::mqtt {

// Readable gtest output for the codec's enums (static: found by ADL, private to this file).
[[maybe_unused]] static void PrintTo(ReasonCode r, std::ostream* os) { *os << reason_name(r); }
[[maybe_unused]] static void PrintTo(PacketType t, std::ostream* os) { *os << packet_type_name(t); }
[[maybe_unused]] static void PrintTo(Version v, std::ostream* os) { *os << "level " << int(v); }
[[maybe_unused]] static void PrintTo(FrameStatus f, std::ostream* os) {
  const char* names[] = {"ok", "need_more", "malformed", "too_large"};
  *os << names[static_cast<int>(f)];
}

namespace {

using namespace std::string_literals;
using I = PropertyId;

constexpr uint32_t kNoLimit = 0xFFFFFFFF;

using testing_hex::unhex;

std::string hex(std::string_view s, size_t limit = 64) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < s.size() && i < limit; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  if (s.size() > limit) out += " ... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

const char* version_name(Version v) {
  switch (v) {
    case Version::v31: return "v31";
    case Version::v311: return "v311";
    case Version::v5: return "v5";
  }
  return "?";
}

// Payloads and binary fields that outlive every test (packets hold views).
const std::string kBinary = "\0\xFF\x01\x80"s;
const std::string kPayload300(300, 'x');
const std::string kPayload20000 = [] {
  std::string s(20000, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 7);
  return s;
}();

// ---- Packet builders -------------------------------------------------------------------

Connect connect(Version v, std::string_view client_id, bool clean = true, uint16_t keep_alive = 60) {
  Connect c;
  c.version = v;
  c.client_id = client_id;
  c.clean_start = clean;
  c.keep_alive = keep_alive;
  return c;
}

Will will(std::string_view topic, std::string_view payload, uint8_t qos, bool retain) {
  Will w;
  w.topic = topic;
  w.payload = payload;
  w.qos = qos;
  w.retain = retain;
  return w;
}

Publish publish(std::string_view topic, std::string_view payload, uint8_t qos = 0, uint16_t id = 0,
                bool retain = false, bool dup = false) {
  Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.packet_id = id;
  p.retain = retain;
  p.dup = dup;
  return p;
}

PubAck ack(PacketType t, uint16_t id, ReasonCode reason = ReasonCode::success) {
  PubAck a;
  a.type = t;
  a.packet_id = id;
  a.reason = reason;
  return a;
}

Subscription sub(std::string_view filter, uint8_t qos, bool no_local = false, bool rap = false, uint8_t rh = 0) {
  return Subscription{filter, qos, no_local, rap, rh};
}

struct Case {
  std::string name;
  Version version;
  Packet packet;
};
void PrintTo(const Case& c, std::ostream* os) { *os << version_name(c.version) << " " << c.name; }

// Packets valid at 3.1 and 3.1.1: no properties, no v5 reason codes.
std::vector<Case> classic_cases(Version v) {
  std::vector<Case> out;
  auto add = [&](std::string name, Packet p) { out.push_back({std::move(name), v, std::move(p)}); };

  add("connect_minimal", connect(v, "client-1"));
  add("connect_persistent_session", connect(v, "c", false, 0));
  add("connect_keep_alive_max", connect(v, "c", true, 0xFFFF));
  {
    Connect c = connect(v, "c");
    c.will = will("will/topic", "bye", 0, false);
    add("connect_will_qos0", c);
  }
  {
    Connect c = connect(v, "c");
    c.will = will("will/topic", kBinary, 1, true);
    add("connect_will_qos1_retain", c);
  }
  {
    Connect c = connect(v, "c", false);
    c.will = will("w", "", 2, false);
    c.username = "user";
    c.password = kBinary;
    add("connect_will_qos2_user_password", c);
  }
  {
    Connect c = connect(v, "c");
    c.username = "user";
    add("connect_user_only", c);
  }
  {
    Connect c = connect(v, "c");
    c.username = "";
    c.password = "";
    add("connect_empty_user_and_password", c);
  }
  add("connack_accepted", Connack{false, 0, {}});
  add("connack_session_present", Connack{true, 0, {}});
  add("connack_refused", Connack{false, 5, {}});

  add("publish_qos0", publish("a/b", "hello"));
  add("publish_qos0_retain", publish("a/b", "hello", 0, 0, true));
  add("publish_qos0_empty_payload", publish("a/b", ""));
  add("publish_qos1", publish("a/b", "hello", 1, 1));
  add("publish_qos1_dup_retain", publish("a/b", kBinary, 1, 0xFFFF, true, true));
  add("publish_qos2", publish("$SYS/x", "hello", 2, 0x1234));
  add("publish_qos2_dup_retain", publish("/", "", 2, 7, true, true));
  add("publish_payload_300", publish("t", kPayload300, 1, 3));
  add("publish_payload_20000", publish("t", kPayload20000, 2, 4));

  add("puback", ack(PacketType::puback, 1));
  add("pubrec", ack(PacketType::pubrec, 0xFFFF));
  add("pubrel", ack(PacketType::pubrel, 0x1234));
  add("pubcomp", ack(PacketType::pubcomp, 0x0100));

  add("subscribe_several", Subscribe{7, {sub("a/b", 0), sub("c/+/d", 1), sub("#", 2), sub("$SYS/#", 1)}, {}});
  add("subscribe_one", Subscribe{1, {sub("a", 2)}, {}});
  add("suback", Suback{7, {0x00, 0x01, 0x02, 0x80}, {}});
  add("unsubscribe_several", Unsubscribe{8, {"a/b", "c/+/d", "#"}, {}});
  add("unsuback", Unsuback{8, {}, {}});
  add("pingreq", Pingreq{});
  add("pingresp", Pingresp{});
  add("disconnect", Disconnect{});
  return out;
}

std::vector<Case> v5_cases() {
  const Version v = Version::v5;
  std::vector<Case> out;
  auto add = [&](std::string name, Packet p) { out.push_back({std::move(name), v, std::move(p)}); };

  add("connect_minimal", connect(v, "client-1"));
  add("connect_empty_client_id", connect(v, ""));
  {
    Connect c = connect(v, "c", false, 30);
    c.props.add_number(I::session_expiry_interval, 3600);
    c.props.add_number(I::receive_maximum, 20);
    c.props.add_number(I::maximum_packet_size, 1 << 20);
    c.props.add_number(I::topic_alias_maximum, 10);
    c.props.add_number(I::request_response_information, 1);
    c.props.add_number(I::request_problem_information, 0);
    c.props.add_user("k", "v1");
    c.props.add_user("k", "v2");
    c.props.add_user("a", "");
    c.props.add_string(I::authentication_method, "SCRAM-SHA-1");
    c.props.add_string(I::authentication_data, kBinary);
    Will w = will("will/t", kBinary, 1, true);
    w.props.add_number(I::will_delay_interval, 5);
    w.props.add_number(I::payload_format_indicator, 1);
    w.props.add_number(I::message_expiry_interval, 60);
    w.props.add_string(I::content_type, "text/plain");
    w.props.add_string(I::response_topic, "reply/here");
    w.props.add_string(I::correlation_data, kBinary);
    w.props.add_user("wk", "wv");
    c.will = w;
    c.username = "user";
    c.password = kBinary;
    add("connect_all_properties_will_user_password", c);
  }
  {
    Connect c = connect(v, "c");
    c.will = will("w", "", 0, false);
    add("connect_will_without_properties", c);
  }
  {
    // 5.0 drops the 3.1.1 rule that a password needs a user name.
    Connect c = connect(v, "c");
    c.password = "secret";
    add("connect_password_without_user", c);
  }
  add("connack_plain", Connack{false, 0, {}});
  {
    Connack c{true, 0, {}};
    c.props.add_number(I::session_expiry_interval, 0);
    c.props.add_number(I::receive_maximum, 100);
    c.props.add_number(I::maximum_qos, 1);
    c.props.add_number(I::retain_available, 0);
    c.props.add_number(I::maximum_packet_size, 65536);
    c.props.add_string(I::assigned_client_identifier, "auto-123");
    c.props.add_number(I::topic_alias_maximum, 0);
    c.props.add_string(I::reason_string, "welcome");
    c.props.add_user("server", "mqbase");
    c.props.add_number(I::wildcard_subscription_available, 1);
    c.props.add_number(I::subscription_identifier_available, 1);
    c.props.add_number(I::shared_subscription_available, 0);
    c.props.add_number(I::server_keep_alive, 120);
    c.props.add_string(I::response_information, "resp/");
    c.props.add_string(I::server_reference, "other:1883");
    c.props.add_string(I::authentication_method, "SCRAM-SHA-1");
    c.props.add_string(I::authentication_data, kBinary);
    add("connack_all_properties", c);
  }
  add("connack_refused", Connack{false, static_cast<uint8_t>(ReasonCode::not_authorized), {}});

  add("publish_qos0", publish("a/b", "hello"));
  add("publish_qos1_dup_retain", publish("a/b", kBinary, 1, 9, true, true));
  add("publish_qos2", publish("a/b", "", 2, 0xFFFF));
  {
    Publish p = publish("sensors/1", kPayload300, 1, 2, true);
    p.props.add_number(I::payload_format_indicator, 0);
    p.props.add_number(I::message_expiry_interval, 0xFFFFFFFF);
    p.props.add_number(I::topic_alias, 3);
    p.props.add_string(I::response_topic, "reply/1");
    p.props.add_string(I::correlation_data, kBinary);
    p.props.add_user("first", "1");
    p.props.add_user("second", "2");
    p.props.add_user("first", "3");
    p.props.add_number(I::subscription_identifier, 1);
    p.props.add_number(I::subscription_identifier, 268435455);
    p.props.add_string(I::content_type, "application/json");
    add("publish_all_properties", p);
  }
  {
    // An empty topic name with a Topic Alias (5.0 3.3.2.3.4).
    Publish p = publish("", "x");
    p.props.add_number(I::topic_alias, 1);
    add("publish_topic_alias_empty_topic", p);
  }
  add("publish_payload_20000", publish("t", kPayload20000, 1, 5));

  add("puback_short", ack(PacketType::puback, 1));
  add("puback_reason_only", ack(PacketType::puback, 2, ReasonCode::no_matching_subscribers));
  {
    PubAck a = ack(PacketType::puback, 3, ReasonCode::not_authorized);
    a.props.add_string(I::reason_string, "denied");
    a.props.add_user("k", "v");
    add("puback_reason_and_properties", a);
  }
  {
    // Success with properties: the reason byte must be written so the properties can follow.
    PubAck a = ack(PacketType::puback, 4);
    a.props.add_user("k", "v");
    add("puback_success_with_properties", a);
  }
  add("pubrec_short", ack(PacketType::pubrec, 5));
  add("pubrec_quota", ack(PacketType::pubrec, 6, ReasonCode::quota_exceeded));
  add("pubrel_short", ack(PacketType::pubrel, 7));
  {
    PubAck a = ack(PacketType::pubrel, 8, ReasonCode::packet_identifier_not_found);
    a.props.add_string(I::reason_string, "unknown id");
    add("pubrel_not_found_with_properties", a);
  }
  add("pubcomp_short", ack(PacketType::pubcomp, 9));
  add("pubcomp_not_found", ack(PacketType::pubcomp, 10, ReasonCode::packet_identifier_not_found));

  {
    Subscribe s{11, {sub("a/b", 0), sub("c/+", 1, true), sub("d/#", 2, false, true, 1), sub("e", 1, true, true, 2)}, {}};
    s.props.add_number(I::subscription_identifier, 42);
    s.props.add_user("k", "v");
    add("subscribe_options_and_properties", s);
  }
  add("subscribe_plain", Subscribe{12, {sub("$share/g/a/+", 1)}, {}});
  {
    Suback s{11, {0x00, 0x01, 0x02, 0x80, 0x8F, 0xA2}, {}};
    s.props.add_string(I::reason_string, "partly");
    s.props.add_user("k", "v");
    add("suback_reasons_and_properties", s);
  }
  {
    Unsubscribe u{13, {"a/b", "c/+"}, {}};
    u.props.add_user("k", "v");
    add("unsubscribe_with_properties", u);
  }
  add("unsubscribe_plain", Unsubscribe{14, {"#"}, {}});
  {
    Unsuback u{13, {0x00, 0x11}, {}};
    u.props.add_string(I::reason_string, "one missing");
    add("unsuback_reasons_and_properties", u);
  }
  add("unsuback_plain", Unsuback{14, {0x00}, {}});
  add("pingreq", Pingreq{});
  add("pingresp", Pingresp{});
  add("disconnect_short", Disconnect{});
  add("disconnect_with_will", Disconnect{ReasonCode::disconnect_with_will, {}});
  {
    Disconnect d{ReasonCode::server_moved, {}};
    d.props.add_number(I::session_expiry_interval, 0);
    d.props.add_string(I::reason_string, "moved");
    d.props.add_string(I::server_reference, "other:1883");
    d.props.add_user("k", "v");
    add("disconnect_with_properties", d);
  }
  {
    // Success with properties still needs the reason byte.
    Disconnect d{};
    d.props.add_string(I::reason_string, "bye");
    add("disconnect_success_with_properties", d);
  }
  add("auth_short", Auth{});
  {
    Auth a{ReasonCode::continue_authentication, {}};
    a.props.add_string(I::authentication_method, "SCRAM-SHA-1");
    a.props.add_string(I::authentication_data, kBinary);
    a.props.add_string(I::reason_string, "step 2");
    a.props.add_user("k", "v");
    add("auth_continue", a);
  }
  {
    Auth a{ReasonCode::reauthenticate, {}};
    a.props.add_string(I::authentication_method, "SCRAM-SHA-1");
    add("auth_reauthenticate", a);
  }
  return out;
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (Version v : {Version::v31, Version::v311}) {
    for (auto& c : classic_cases(v)) out.push_back(std::move(c));
  }
  for (auto& c : v5_cases()) out.push_back(std::move(c));
  return out;
}

// Encodes, frames and decodes `p`. `bytes` must outlive `out` (decoded packets view into it).
void round_trip(const Packet& p, Version v, std::string& bytes, Packet& out) {
  bytes.clear();
  encode(p, v, bytes);
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok) << hex(bytes);
  ASSERT_EQ(h.total(), bytes.size()) << hex(bytes);
  EXPECT_EQ(h.type, type_of(p));
  auto r = decode_packet(h, std::string_view(bytes).substr(h.header_length), v, out);
  ASSERT_TRUE(r.ok()) << reason_name(r.reason) << ": " << r.error << "\n" << hex(bytes);
}

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, DecodesToTheSamePacket) {
  const auto& c = GetParam();
  std::string bytes;
  Packet out;
  round_trip(c.packet, c.version, bytes, out);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(out == c.packet) << "bytes: " << hex(bytes);
}

TEST_P(RoundTrip, ReencodesToTheSameBytes) {
  const auto& c = GetParam();
  std::string bytes;
  Packet out;
  round_trip(c.packet, c.version, bytes, out);
  if (HasFatalFailure()) return;
  std::string again;
  encode(out, c.version, again);
  EXPECT_EQ(hex(again, 1 << 20), hex(bytes, 1 << 20));
}

TEST_P(RoundTrip, NoBodyPrefixIsReadPastItsEnd) {
  // Each body prefix is copied to a heap buffer of exactly that size, so a read past its end
  // is caught by AddressSanitizer. Some prefixes are valid packets (a shorter PUBLISH payload,
  // fewer SUBSCRIBE filters); the point is only that decoding stays inside the body.
  const auto& c = GetParam();
  std::string bytes;
  encode(c.packet, c.version, bytes);
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok);
  std::string_view body = std::string_view(bytes).substr(h.header_length);
  size_t step = body.size() > 400 ? body.size() / 50 : 1;
  size_t refused = 0, tried = 0;
  for (size_t n = 0; n < body.size(); n += step) {
    auto copy = std::make_unique<char[]>(n == 0 ? 1 : n);
    std::copy(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n), copy.get());
    FixedHeader cut = h;
    cut.remaining_length = static_cast<uint32_t>(n);
    Packet out;
    ++tried;
    if (!decode_packet(cut, std::string_view(copy.get(), n), c.version, out).ok()) ++refused;
  }
  // The empty body is refused by every packet type that has a mandatory field.
  bool has_mandatory_field = !std::holds_alternative<Pingreq>(c.packet) && !std::holds_alternative<Pingresp>(c.packet) &&
                             !std::holds_alternative<Disconnect>(c.packet) && !std::holds_alternative<Auth>(c.packet);
  if (has_mandatory_field && tried > 0) {
    EXPECT_GT(refused, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllVersions, RoundTrip, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           return std::string(version_name(info.param.version)) + "_" + info.param.name;
                         });

TEST(RoundTripCoverage, EveryPacketTypeAtEveryVersion) {
  std::map<Version, std::set<PacketType>> seen;
  for (const auto& c : all_cases()) seen[c.version].insert(type_of(c.packet));
  for (Version v : {Version::v31, Version::v311}) {
    EXPECT_EQ(seen[v].size(), 14u) << version_name(v) << ": every type but AUTH";
    EXPECT_FALSE(seen[v].contains(PacketType::auth));
  }
  EXPECT_EQ(seen[Version::v5].size(), 15u);
}

TEST(RoundTripCoverage, EveryPropertyIdentifierAppearsInAV5Case) {
  std::set<PropertyId> seen;
  auto collect = [&](const Properties& p) {
    for (const auto& item : p.items) seen.insert(item.id);
  };
  for (const auto& c : v5_cases()) {
    std::visit(
        [&](const auto& pkt) {
          using P = std::decay_t<decltype(pkt)>;
          if constexpr (requires { pkt.props; }) collect(pkt.props);
          if constexpr (std::is_same_v<P, Connect>) {
            if (pkt.will) collect(pkt.will->props);
          }
        },
        c.packet);
  }
  EXPECT_EQ(seen.size(), 27u);
}

TEST(RoundTripDetails, DecodedStringsViewIntoTheBuffer) {
  std::string bytes;
  encode(publish("a/b", "payload", 1, 1), Version::v311, bytes);
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok);
  Packet out;
  ASSERT_TRUE(decode_packet(h, std::string_view(bytes).substr(h.header_length), Version::v311, out).ok());
  const auto& p = std::get<Publish>(out);
  auto inside = [&](std::string_view s) {
    return s.data() >= bytes.data() && s.data() + s.size() <= bytes.data() + bytes.size();
  };
  EXPECT_TRUE(inside(p.topic));
  EXPECT_TRUE(inside(p.payload));
  EXPECT_EQ(p.payload.data() + p.payload.size(), bytes.data() + bytes.size());
}

TEST(RoundTripDetails, ConnectVersionComesFromTheBytesNotTheConnection) {
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    std::string bytes;
    encode(connect(v, "x"), v, bytes);
    FixedHeader h;
    ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok);
    for (Version conn : {Version::v31, Version::v311, Version::v5}) {
      Packet out;
      ASSERT_TRUE(decode_packet(h, std::string_view(bytes).substr(h.header_length), conn, out).ok());
      EXPECT_EQ(std::get<Connect>(out).version, v);
    }
  }
}

TEST(Mqtt31, PubrelWithDupIsAccepted) {
  // MQTT 3.1 allowed DUP on a PUBREL resent after a reconnect (flags 0x0A); item 14.
  std::string bytes = unhex("6A 02 00 09");
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok);
  Packet out;
  DecodeResult r = decode_packet(h, std::string_view(bytes).substr(h.header_length), Version::v31, out);
  ASSERT_TRUE(r.ok()) << r.error;
  const auto& a = std::get<PubAck>(out);
  EXPECT_EQ(a.type, PacketType::pubrel);
  EXPECT_EQ(a.packet_id, 9);
  EXPECT_EQ(a.reason, ReasonCode::success);
  for (Version v : {Version::v311, Version::v5}) {
    EXPECT_EQ(decode_packet(h, std::string_view(bytes).substr(h.header_length), v, out).reason,
              ReasonCode::malformed_packet);
  }
}

// ---- Known byte vectors ----------------------------------------------------------------

struct Vector {
  const char* name;
  Version version;
  Packet packet;
  const char* bytes;
};
void PrintTo(const Vector& v, std::ostream* os) { *os << v.name << " [" << v.bytes << "]"; }

std::vector<Vector> vectors() {
  const Version v3 = Version::v31, v4 = Version::v311, v5 = Version::v5;
  Connect full311 = connect(v4, "c", true, 10);
  full311.will = will("t", "p", 1, true);
  full311.username = "u";
  full311.password = "pw";
  Connect props5 = connect(v5, "a");
  props5.props.add_number(I::session_expiry_interval, 0x78);
  props5.props.add_user("a", "b");
  Connect will5 = connect(v5, "a");
  will5.will = will("t", "p", 0, false);
  will5.will->props.add_number(I::will_delay_interval, 5);
  Publish alias5 = publish("", "x");
  alias5.props.add_number(I::topic_alias, 1);
  PubAck pubrec5 = ack(PacketType::pubrec, 5, ReasonCode::unspecified_error);
  pubrec5.props.add_string(I::reason_string, "x");
  Disconnect disc5{};
  disc5.props.add_number(I::session_expiry_interval, 0);
  Auth auth5{ReasonCode::continue_authentication, {}};
  auth5.props.add_string(I::authentication_method, "m");
  return {
      {"pingreq_v311", v4, Pingreq{}, "C0 00"},
      {"pingreq_v5", v5, Pingreq{}, "C0 00"},
      {"pingresp_v311", v4, Pingresp{}, "D0 00"},
      {"disconnect_v311", v4, Disconnect{}, "E0 00"},
      // Protocol name "MQTT", level 4, flags 02 (clean session), keep alive 003C, client id "a".
      {"connect_v311_a_clean_60", v4, connect(v4, "a"), "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 61"},
      {"connect_v31_a_clean_60", v3, connect(v3, "a"), "10 0F 00 06 4D 51 49 73 64 70 03 02 00 3C 00 01 61"},
      {"connect_v5_a_clean_60", v5, connect(v5, "a"), "10 0E 00 04 4D 51 54 54 05 02 00 3C 00 00 01 61"},
      // Flags EE: user, password, will retain, will QoS 1, will, clean session.
      {"connect_v311_will_user_password", v4, full311,
       "10 1A 00 04 4D 51 54 54 04 EE 00 0A 00 01 63 00 01 74 00 01 70 00 01 75 00 02 70 77"},
      {"connect_v5_properties", v5, props5,
       "10 1A 00 04 4D 51 54 54 05 02 00 3C 0C 11 00 00 00 78 26 00 01 61 00 01 62 00 01 61"},
      {"connect_v5_will_properties", v5, will5,
       "10 1A 00 04 4D 51 54 54 05 06 00 3C 00 00 01 61 05 18 00 00 00 05 00 01 74 00 01 70"},
      {"connack_v311_accepted", v4, Connack{false, 0, {}}, "20 02 00 00"},
      {"connack_v311_session_present", v4, Connack{true, 0, {}}, "20 02 01 00"},
      {"connack_v311_not_authorized", v4, Connack{false, 5, {}}, "20 02 00 05"},
      {"connack_v5_session_present", v5, Connack{true, 0, {}}, "20 03 01 00 00"},
      {"publish_v311_qos1", v4, publish("a/b", "hi", 1, 10), "32 09 00 03 61 2F 62 00 0A 68 69"},
      {"publish_v311_qos0_retain_empty", v4, publish("t", "", 0, 0, true), "31 03 00 01 74"},
      {"publish_v311_qos2_dup", v4, publish("t", "", 2, 1, false, true), "3C 05 00 01 74 00 01"},
      {"publish_v5_qos0", v5, publish("t", "x"), "30 05 00 01 74 00 78"},
      {"publish_v5_topic_alias", v5, alias5, "30 07 00 00 03 23 00 01 78"},
      {"puback_v311", v4, ack(PacketType::puback, 1), "40 02 00 01"},
      {"pubrec_v311", v4, ack(PacketType::pubrec, 2), "50 02 00 02"},
      {"pubrel_v311", v4, ack(PacketType::pubrel, 0x1234), "62 02 12 34"},
      {"pubcomp_v311", v4, ack(PacketType::pubcomp, 0xFFFF), "70 02 FF FF"},
      {"puback_v5_short", v5, ack(PacketType::puback, 1), "40 02 00 01"},
      {"puback_v5_no_matching", v5, ack(PacketType::puback, 1, ReasonCode::no_matching_subscribers), "40 03 00 01 10"},
      {"pubrec_v5_reason_string", v5, pubrec5, "50 08 00 05 80 04 1F 00 01 78"},
      {"subscribe_v311", v4, Subscribe{1, {sub("a/#", 1)}, {}}, "82 08 00 01 00 03 61 2F 23 01"},
      // Options 2E: retain handling 2, retain as published, no local, QoS 2.
      {"subscribe_v5_options", v5, Subscribe{1, {sub("a", 2, true, true, 2)}, {}}, "82 07 00 01 00 00 01 61 2E"},
      {"suback_v311", v4, Suback{1, {0x00, 0x02, 0x80}, {}}, "90 05 00 01 00 02 80"},
      {"suback_v5", v5, Suback{1, {0x00, 0x8F}, {}}, "90 05 00 01 00 00 8F"},
      {"unsubscribe_v311", v4, Unsubscribe{2, {"a"}, {}}, "A2 05 00 02 00 01 61"},
      {"unsubscribe_v5", v5, Unsubscribe{2, {"a"}, {}}, "A2 06 00 02 00 00 01 61"},
      {"unsuback_v311", v4, Unsuback{2, {}, {}}, "B0 02 00 02"},
      {"unsuback_v5", v5, Unsuback{2, {0x00, 0x11}, {}}, "B0 05 00 02 00 00 11"},
      {"disconnect_v5_short", v5, Disconnect{}, "E0 00"},
      {"disconnect_v5_with_will", v5, Disconnect{ReasonCode::disconnect_with_will, {}}, "E0 01 04"},
      {"disconnect_v5_session_expiry", v5, disc5, "E0 07 00 05 11 00 00 00 00"},
      {"auth_v5_short", v5, Auth{}, "F0 00"},
      {"auth_v5_continue", v5, auth5, "F0 06 18 04 15 00 01 6D"},
  };
}

class KnownBytes : public ::testing::TestWithParam<Vector> {};

TEST_P(KnownBytes, EncodeProducesThem) {
  const auto& c = GetParam();
  std::string bytes;
  encode(c.packet, c.version, bytes);
  EXPECT_EQ(hex(bytes), hex(unhex(c.bytes)));
}

TEST_P(KnownBytes, DecodeReadsThem) {
  const auto& c = GetParam();
  std::string bytes = unhex(c.bytes);
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::ok);
  ASSERT_EQ(h.total(), bytes.size());
  Packet out;
  auto r = decode_packet(h, std::string_view(bytes).substr(h.header_length), c.version, out);
  ASSERT_TRUE(r.ok()) << reason_name(r.reason) << ": " << r.error;
  EXPECT_TRUE(out == c.packet);
}

INSTANTIATE_TEST_SUITE_P(Spec, KnownBytes, ::testing::ValuesIn(vectors()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(KnownBytesLarge, RemainingLengthUsesTwoAndThreeByteVarints) {
  std::string bytes;
  // Body 3 + 300 = 303 = 0x12F -> AF 02.
  encode(publish("t", kPayload300), Version::v311, bytes);
  EXPECT_EQ(hex(bytes.substr(0, 6)), "30 AF 02 00 01 74");
  EXPECT_EQ(bytes.size(), 6u + 300);
  // Body 3 + 2 + 20000 = 20005 = 0x4E25 -> A5 9C 01.
  bytes.clear();
  encode(publish("t", kPayload20000, 1, 1), Version::v311, bytes);
  EXPECT_EQ(hex(bytes.substr(0, 9)), "32 A5 9C 01 00 01 74 00 01");
  EXPECT_EQ(bytes.size(), 9u + 20000);
}

// ---- Incremental framing ---------------------------------------------------------------

// A connection's read loop in miniature: append whatever arrived, then take every whole
// packet off the front. Each frame is copied to `frames` before decoding so the decoded views
// stay valid after the read buffer moves on.
void read_loop(const std::vector<std::string_view>& chunks, Version v, std::deque<std::string>& frames,
               std::vector<Packet>& out) {
  std::string buffer;
  for (std::string_view chunk : chunks) {
    buffer.append(chunk);
    while (true) {
      FixedHeader h;
      FrameStatus st = parse_fixed_header(buffer, kNoLimit, h);
      if (st == FrameStatus::need_more) break;
      ASSERT_EQ(st, FrameStatus::ok) << "buffer: " << hex(buffer);
      frames.emplace_back(buffer.substr(0, h.total()));
      buffer.erase(0, h.total());
      Packet p;
      auto r = decode_packet(h, std::string_view(frames.back()).substr(h.header_length), v, p);
      ASSERT_TRUE(r.ok()) << reason_name(r.reason) << ": " << r.error;
      out.push_back(std::move(p));
    }
  }
  EXPECT_TRUE(buffer.empty()) << "left over: " << hex(buffer);
}

std::vector<Packet> sequence(Version v) {
  std::vector<Packet> s;
  Connect c = connect(v, "seq-client");
  c.will = will("will/t", "gone", 1, false);
  c.username = "u";
  c.password = "p";
  if (v == Version::v5) {
    c.props.add_number(I::session_expiry_interval, 10);
    c.props.add_user("k", "v");
  }
  s.push_back(c);
  s.push_back(Connack{false, 0, {}});
  Publish p1 = publish("a/b", "small");
  if (v == Version::v5) p1.props.add_user("order", "1");
  s.push_back(p1);
  s.push_back(publish("a/c", kPayload300, 1, 1, true));
  s.push_back(ack(PacketType::puback, 1));
  s.push_back(Subscribe{2, {sub("a/#", 1), sub("+/x", 2)}, {}});
  s.push_back(Suback{2, {0x01, 0x02}, {}});
  s.push_back(Pingreq{});
  s.push_back(publish("q/2", "exactly once", 2, 3, false, true));
  s.push_back(ack(PacketType::pubrec, 3));
  s.push_back(ack(PacketType::pubrel, 3));
  s.push_back(ack(PacketType::pubcomp, 3));
  s.push_back(Unsubscribe{4, {"a/#"}, {}});
  s.push_back(Unsuback{4, v == Version::v5 ? std::vector<uint8_t>{0x00} : std::vector<uint8_t>{}, {}});
  s.push_back(Pingresp{});
  if (v == Version::v5) {
    Auth a{ReasonCode::reauthenticate, {}};
    a.props.add_string(I::authentication_method, "m");
    s.push_back(a);
  }
  s.push_back(Disconnect{});
  return s;
}

class Framing : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    packets_ = sequence(GetParam());
    for (const auto& p : packets_) encode(p, GetParam(), stream_);
    read_loop({stream_}, GetParam(), whole_frames_, whole_);
    ASSERT_FALSE(HasFatalFailure());
  }
  std::vector<Packet> packets_;
  std::string stream_;
  std::deque<std::string> whole_frames_;
  std::vector<Packet> whole_;  // decoded from the stream in one piece
};

TEST_P(Framing, OnePieceDecodesEveryPacket) {
  ASSERT_EQ(whole_.size(), packets_.size());
  for (size_t i = 0; i < packets_.size(); ++i) EXPECT_TRUE(whole_[i] == packets_[i]) << "packet " << i;
}

TEST_P(Framing, SplitAtEveryBoundaryDecodesTheSame) {
  std::string_view s = stream_;
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    std::deque<std::string> frames;
    std::vector<Packet> got;
    read_loop({s.substr(0, cut), s.substr(cut)}, GetParam(), frames, got);
    ASSERT_FALSE(HasFatalFailure()) << "cut at " << cut;
    ASSERT_EQ(got.size(), whole_.size()) << "cut at " << cut;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(got[i] == whole_[i]) << "cut at " << cut << ", packet " << i;
  }
}

TEST_P(Framing, OneByteChunksDecodeTheSame) {
  std::string_view s = stream_;
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < s.size(); ++i) chunks.push_back(s.substr(i, 1));
  std::deque<std::string> frames;
  std::vector<Packet> got;
  read_loop(chunks, GetParam(), frames, got);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(got.size(), whole_.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i] == whole_[i]) << "packet " << i;
}

TEST_P(Framing, OneByteChunksThroughAThreeByteLength) {
  std::string stream;
  Packet big = publish("big", kPayload20000, 1, 77);
  encode(Pingreq{}, GetParam(), stream);
  encode(big, GetParam(), stream);
  encode(Pingreq{}, GetParam(), stream);
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < stream.size(); ++i) chunks.push_back(std::string_view(stream).substr(i, 1));
  std::deque<std::string> frames;
  std::vector<Packet> got;
  read_loop(chunks, GetParam(), frames, got);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[1] == big);
}

TEST_P(Framing, EveryStrictPrefixOfAPacketNeedsMore) {
  for (const auto& frame : whole_frames_) {
    for (size_t n = 0; n < frame.size(); ++n) {
      FixedHeader h;
      ASSERT_EQ(parse_fixed_header(std::string_view(frame).substr(0, n), kNoLimit, h), FrameStatus::need_more)
          << hex(frame) << " prefix " << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, Framing, ::testing::Values(Version::v31, Version::v311, Version::v5),
                         [](const auto& info) { return std::string(version_name(info.param)); });

// ---- parse_fixed_header ----------------------------------------------------------------

TEST(FixedHeader, FieldsAreFilledOnceTheLengthIsKnown) {
  std::string bytes = unhex("32 09 00 03");  // a PUBLISH whose body has not all arrived
  FixedHeader h;
  EXPECT_EQ(parse_fixed_header("", kNoLimit, h), FrameStatus::need_more);
  EXPECT_EQ(parse_fixed_header(bytes.substr(0, 1), kNoLimit, h), FrameStatus::need_more);
  ASSERT_EQ(parse_fixed_header(bytes, kNoLimit, h), FrameStatus::need_more);
  EXPECT_EQ(h.type, PacketType::publish);
  EXPECT_EQ(h.flags, 0x2);
  EXPECT_EQ(h.remaining_length, 9u);
  EXPECT_EQ(h.header_length, 2u);
  EXPECT_EQ(h.total(), 11u);
}

TEST(FixedHeader, LargestRemainingLength) {
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(unhex("30 FF FF FF 7F"), kNoLimit, h), FrameStatus::need_more);
  EXPECT_EQ(h.remaining_length, kMaxRemainingLength);
  EXPECT_EQ(h.header_length, 5u);
}

TEST(FixedHeader, MaximumPacketSizeCountsTheWholePacket) {
  std::string bytes = unhex("32 09 00 03 61 2F 62 00 0A 68 69");  // 11 bytes in all
  FixedHeader h;
  EXPECT_EQ(parse_fixed_header(bytes, 11, h), FrameStatus::ok);
  EXPECT_EQ(parse_fixed_header(bytes, 10, h), FrameStatus::too_large);
  // Refused from the header alone, before the body is buffered.
  EXPECT_EQ(parse_fixed_header(bytes.substr(0, 2), 10, h), FrameStatus::too_large);
  EXPECT_EQ(parse_fixed_header(bytes.substr(0, 2), 11, h), FrameStatus::need_more);
}

TEST(FixedHeader, FiveByteRemainingLengthIsMalformed) {
  FixedHeader h;
  EXPECT_EQ(parse_fixed_header(unhex("30 80 80 80 80 01"), kNoLimit, h), FrameStatus::malformed);
  EXPECT_EQ(parse_fixed_header(unhex("30 80 80 80 80"), kNoLimit, h), FrameStatus::malformed);
  EXPECT_EQ(parse_fixed_header(unhex("30 80 80 80"), kNoLimit, h), FrameStatus::need_more);
}

// ---- PUBLISH fast path -----------------------------------------------------------------

TEST(PublishFastPath, MatchesTheGenericEncoderAndItsSize) {
  Properties props;
  props.add_number(I::message_expiry_interval, 10);
  props.add_user("k", "v");
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    for (uint8_t qos : {0, 1, 2}) {
      for (const std::string* payload : {&kBinary, &kPayload300, &kPayload20000}) {
        for (bool with_props : {false, true}) {
          if (with_props && v != Version::v5) continue;
          SCOPED_TRACE(std::string(version_name(v)) + " qos " + std::to_string(qos) + " payload " +
                       std::to_string(payload->size()) + (with_props ? " props" : ""));
          Publish p = publish("a/b", *payload, qos, qos ? 9 : 0, qos == 1, qos == 2);
          if (with_props) p.props = props;
          std::string generic, fast;
          encode(p, v, generic);
          encode_publish(fast, v, p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id,
                         with_props ? &props : nullptr);
          EXPECT_EQ(hex(fast, 1 << 20), hex(generic, 1 << 20));
          EXPECT_EQ(publish_size(v, p.topic, payload->size(), qos, with_props ? &props : nullptr), generic.size());
        }
      }
    }
  }
}

TEST(PublishFastPath, AppendsToWhatIsAlreadyThere) {
  std::string out = "xy";
  encode_publish(out, Version::v311, "t", "p", 0, false, false, 0);
  EXPECT_EQ(hex(out), "78 79 30 04 00 01 74 70");
}

// ---- Small helpers ---------------------------------------------------------------------

TEST(PacketTypes, TypeOfAndNames) {
  EXPECT_EQ(type_of(Packet{ack(PacketType::pubrel, 1)}), PacketType::pubrel);
  EXPECT_EQ(type_of(Packet{Auth{}}), PacketType::auth);
  EXPECT_EQ(packet_type_name(PacketType::connect), "CONNECT");
  EXPECT_EQ(packet_type_name(PacketType::unsuback), "UNSUBACK");
  EXPECT_EQ(packet_type_name(PacketType::auth), "AUTH");
  EXPECT_EQ(packet_type_name(PacketType::reserved), "RESERVED");
}

TEST(ConnackCodes, V5SendsTheReasonAndV3MapsToTheNearestReturnCode) {
  struct Row {
    ReasonCode reason;
    uint8_t v3;
  };
  for (Row r : {Row{ReasonCode::success, 0}, Row{ReasonCode::unsupported_protocol_version, 1},
                Row{ReasonCode::client_identifier_not_valid, 2}, Row{ReasonCode::server_unavailable, 3},
                Row{ReasonCode::server_busy, 3}, Row{ReasonCode::malformed_packet, 3},
                Row{ReasonCode::bad_user_name_or_password, 4}, Row{ReasonCode::bad_authentication_method, 4},
                Row{ReasonCode::not_authorized, 5}, Row{ReasonCode::banned, 5}}) {
    SCOPED_TRACE(std::string(reason_name(r.reason)));
    EXPECT_EQ(connack_code(r.reason, Version::v311), r.v3);
    EXPECT_EQ(connack_code(r.reason, Version::v31), r.v3);
    EXPECT_EQ(connack_code(r.reason, Version::v5), static_cast<uint8_t>(r.reason));
  }
  EXPECT_FALSE(is_error(ReasonCode::granted_qos2));
  EXPECT_TRUE(is_error(ReasonCode::unspecified_error));
}

}  // namespace
}  // namespace mqbase::mqtt
