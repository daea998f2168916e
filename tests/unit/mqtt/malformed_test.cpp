// Malformed and invalid packets as raw bytes, each with the outcome the spec asks for: the
// framing status from parse_fixed_header, or the reason decode_packet refuses the packet with
// (which becomes the v5 DISCONNECT / CONNACK reason code, or a closed 3.x connection).
//
// Rows marked with `bug` hold the spec's answer where the decoder gives another: they check
// that the packet is at least refused, then skip with "decoder bug: ..." until src/ is fixed.
#include "hex.h"
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/decoder.h"
#include "mqtt/reason_code.h"

namespace mqbase::mqtt {

// Readable gtest output for the codec's enums (static: found by ADL, private to this file).
[[maybe_unused]] static void PrintTo(ReasonCode r, std::ostream* os) { *os << reason_name(r); }
[[maybe_unused]] static void PrintTo(Version v, std::ostream* os) { *os << "level " << int(v); }
[[maybe_unused]] static void PrintTo(FrameStatus f, std::ostream* os) {
  const char* names[] = {"ok", "need_more", "malformed", "too_large"};
  *os << names[static_cast<int>(f)];
}

namespace {

constexpr uint32_t kMaxPacket = 1 << 20;

using testing_hex::unhex;

struct Row {
  const char* name;
  Version version;  // of the connection (CONNECT carries its own)
  const char* hex;
  FrameStatus frame = FrameStatus::ok;         // expected from parse_fixed_header
  ReasonCode reason = ReasonCode::success;     // expected from decode_packet when frame is ok
  uint32_t max_packet = kMaxPacket;
  const char* bug = nullptr;                   // set when the decoder disagrees with the spec
};

Row frame_row(const char* name, Version v, const char* hex, FrameStatus f, uint32_t max = kMaxPacket) {
  return Row{name, v, hex, f, ReasonCode::success, max, nullptr};
}
Row decode_row(const char* name, Version v, const char* hex, ReasonCode r) {
  return Row{name, v, hex, FrameStatus::ok, r, kMaxPacket, nullptr};
}
void PrintTo(const Row& r, std::ostream* os) { *os << r.name << " [" << r.hex << "]"; }

constexpr Version v3 = Version::v31;
constexpr Version v4 = Version::v311;
constexpr Version v5 = Version::v5;
constexpr ReasonCode kMalformed = ReasonCode::malformed_packet;
constexpr ReasonCode kProtocol = ReasonCode::protocol_error;

// A valid 3.1.1 CONNECT for client "a" is 10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 61:
// rows below change one thing in it, or in other equally small packets.
std::vector<Row> rows() {
  return {
      // ---- Framing ----
      frame_row("remaining_length_five_bytes", v4, "30 FF FF FF FF 7F", FrameStatus::malformed),
      frame_row("remaining_length_four_continuations", v4, "30 80 80 80 80", FrameStatus::malformed),
      frame_row("larger_than_max_packet_size", v4, "30 09 00 01 74 68 65 6C 6C 6F 21", FrameStatus::too_large, 10),
      frame_row("larger_than_max_from_header_alone", v4, "30 FF FF FF 7F", FrameStatus::too_large),
      // ---- Fixed header: type and flags ([MQTT-2.2.2-2]) ----
      decode_row("reserved_type_0", v4, "00 00", kMalformed),
      decode_row("reserved_type_0_v5", v5, "00 00", kMalformed),
      decode_row("auth_at_level_4", v4, "F0 00", kMalformed),
      decode_row("auth_at_level_3", v3, "F0 00", kMalformed),
      decode_row("auth_v5_flags", v5, "F1 00", kMalformed),
      decode_row("connect_flags", v4, "11 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 61", kMalformed),
      decode_row("connack_flags", v4, "28 02 00 00", kMalformed),
      decode_row("puback_flags", v4, "42 02 00 01", kMalformed),
      decode_row("pubrec_flags", v4, "52 02 00 01", kMalformed),
      decode_row("pubrel_flags_0", v4, "60 02 00 01", kMalformed),
      decode_row("pubrel_flags_3", v4, "63 02 00 01", kMalformed),
      // DUP on a PUBREL: allowed by MQTT 3.1 only (see Mqtt31.PubrelWithDupIsAccepted).
      decode_row("pubrel_dup_v311", v4, "6A 02 00 01", kMalformed),
      decode_row("pubrel_dup_v5", v5, "6A 02 00 01", kMalformed),
      decode_row("pubrel_dup_without_qos1_v31", v3, "68 02 00 01", kMalformed),
      decode_row("pubrel_dup_qos1_retain_v31", v3, "6B 02 00 01", kMalformed),
      decode_row("pubrel_flags_0_v31", v3, "60 02 00 01", kMalformed),
      decode_row("pubcomp_flags", v4, "72 02 00 01", kMalformed),
      decode_row("subscribe_flags_0", v4, "80 06 00 01 00 01 61 00", kMalformed),
      decode_row("subscribe_flags_a", v4, "8A 06 00 01 00 01 61 00", kMalformed),
      decode_row("suback_flags", v4, "92 03 00 01 00", kMalformed),
      decode_row("unsubscribe_flags_0", v4, "A0 05 00 01 00 01 61", kMalformed),
      decode_row("unsuback_flags", v4, "B2 02 00 01", kMalformed),
      decode_row("pingreq_flags", v4, "C1 00", kMalformed),
      decode_row("pingresp_flags", v4, "D8 00", kMalformed),
      decode_row("disconnect_flags", v4, "E2 00", kMalformed),
      // ---- CONNECT ----
      decode_row("connect_reserved_flag", v4, "10 0D 00 04 4D 51 54 54 04 03 00 3C 00 01 61", kMalformed),
      decode_row("connect_reserved_flag_v5", v5, "10 0E 00 04 4D 51 54 54 05 03 00 3C 00 00 01 61", kMalformed),
      decode_row("connect_will_qos_3", v4, "10 12 00 04 4D 51 54 54 04 1E 00 3C 00 01 61 00 01 74 00 00", kMalformed),
      decode_row("connect_will_retain_without_will", v4, "10 0D 00 04 4D 51 54 54 04 22 00 3C 00 01 61", kMalformed),
      decode_row("connect_will_qos_without_will", v4, "10 0D 00 04 4D 51 54 54 04 0A 00 3C 00 01 61", kMalformed),
      decode_row("connect_password_without_user_v311", v4,
                 "10 10 00 04 4D 51 54 54 04 42 00 3C 00 01 61 00 01 70", kMalformed),
      decode_row("connect_bad_protocol_name", v4, "10 0D 00 04 4D 51 54 58 04 02 00 3C 00 01 61", kProtocol),
      decode_row("connect_lowercase_protocol_name", v4, "10 0D 00 04 6D 71 74 74 04 02 00 3C 00 01 61", kProtocol),
      decode_row("connect_level_6", v4, "10 0D 00 04 4D 51 54 54 06 02 00 3C 00 01 61",
                 ReasonCode::unsupported_protocol_version),
      decode_row("connect_level_0", v4, "10 0D 00 04 4D 51 54 54 00 02 00 3C 00 01 61",
                 ReasonCode::unsupported_protocol_version),
      decode_row("connect_mqtt_level_3", v4, "10 0D 00 04 4D 51 54 54 03 02 00 3C 00 01 61",
                 ReasonCode::unsupported_protocol_version),
      decode_row("connect_mqisdp_level_4", v4, "10 0F 00 06 4D 51 49 73 64 70 04 02 00 3C 00 01 61",
                 ReasonCode::unsupported_protocol_version),
      decode_row("connect_truncated_protocol_name", v4, "10 03 00 04 4D", kMalformed),
      decode_row("connect_truncated_before_level", v4, "10 06 00 04 4D 51 54 54", kMalformed),
      decode_row("connect_truncated_keep_alive", v4, "10 09 00 04 4D 51 54 54 04 02 00", kMalformed),
      decode_row("connect_missing_client_id", v4, "10 0A 00 04 4D 51 54 54 04 02 00 3C", kMalformed),
      decode_row("connect_truncated_client_id", v4, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 05 61", kMalformed),
      decode_row("connect_trailing_byte", v4, "10 0E 00 04 4D 51 54 54 04 02 00 3C 00 01 61 FF", kMalformed),
      decode_row("connect_client_id_invalid_utf8", v4, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 FF", kMalformed),
      decode_row("connect_client_id_nul", v4, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 00", kMalformed),
      decode_row("connect_user_flag_without_user", v4, "10 0D 00 04 4D 51 54 54 04 82 00 3C 00 01 61", kMalformed),
      decode_row("connect_username_invalid_utf8", v4, "10 10 00 04 4D 51 54 54 04 82 00 3C 00 01 61 00 01 C0",
                 kMalformed),
      decode_row("connect_will_flag_without_will_topic", v4, "10 0D 00 04 4D 51 54 54 04 06 00 3C 00 01 61",
                 kMalformed),
      decode_row("connect_will_without_payload", v4, "10 10 00 04 4D 51 54 54 04 06 00 3C 00 01 61 00 01 74",
                 kMalformed),
      decode_row("connect_will_topic_wildcard", v4,
                 "10 14 00 04 4D 51 54 54 04 06 00 3C 00 01 61 00 03 61 2F 23 00 00", ReasonCode::topic_name_invalid),
      decode_row("connect_will_topic_nul", v4, "10 12 00 04 4D 51 54 54 04 06 00 3C 00 01 61 00 01 00 00 00",
                 kMalformed),
      decode_row("connect_will_topic_invalid_utf8", v4,
                 "10 12 00 04 4D 51 54 54 04 06 00 3C 00 01 61 00 01 FE 00 00", kMalformed),
      // ---- CONNACK ----
      decode_row("connack_reserved_ack_flags", v4, "20 02 02 00", kMalformed),
      decode_row("connack_truncated", v4, "20 01 00", kMalformed),
      decode_row("connack_trailing_byte", v4, "20 03 00 00 00", kMalformed),
      // ---- PUBLISH ----
      decode_row("publish_qos_3", v4, "36 05 00 01 74 00 01", kMalformed),
      decode_row("publish_qos_3_v5", v5, "36 06 00 01 74 00 01 00", kMalformed),
      decode_row("publish_dup_on_qos0", v4, "38 03 00 01 74", kMalformed),
      decode_row("publish_packet_id_0_qos1", v4, "32 05 00 01 74 00 00", kMalformed),
      decode_row("publish_packet_id_0_qos2", v5, "34 06 00 01 74 00 00 00", kMalformed),
      decode_row("publish_truncated_packet_id", v4, "32 04 00 01 74 00", kMalformed),
      decode_row("publish_truncated_topic", v4, "30 03 00 05 61", kMalformed),
      decode_row("publish_missing_topic", v4, "30 01 00", kMalformed),
      decode_row("publish_plus_in_topic", v4, "30 05 00 03 61 2F 2B", kMalformed),
      decode_row("publish_hash_topic", v4, "30 03 00 01 23", kMalformed),
      decode_row("publish_plus_in_topic_v31", v3, "30 05 00 03 61 2B 62", kMalformed),
      decode_row("publish_wildcard_topic_v5", v5, "30 06 00 03 61 2F 23 00", ReasonCode::topic_name_invalid),
      decode_row("publish_empty_topic_v311", v4, "30 02 00 00", kMalformed),
      decode_row("publish_nul_in_topic", v4, "30 05 00 03 61 00 62", kMalformed),
      decode_row("publish_nul_in_topic_v5", v5, "30 06 00 03 61 00 62 00", kMalformed),
      decode_row("publish_invalid_utf8_topic", v4, "30 04 00 02 C3 28", kMalformed),
      decode_row("publish_surrogate_in_topic", v4, "30 05 00 03 ED A0 80", kMalformed),
      decode_row("publish_v5_missing_properties", v5, "30 03 00 01 74", kMalformed),
      // ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----
      decode_row("puback_packet_id_0", v4, "40 02 00 00", kMalformed),
      decode_row("pubrec_packet_id_0", v5, "50 02 00 00", kMalformed),
      decode_row("pubrel_packet_id_0", v4, "62 02 00 00", kMalformed),
      decode_row("pubcomp_packet_id_0", v4, "70 02 00 00", kMalformed),
      decode_row("puback_truncated", v4, "40 01 00", kMalformed),
      decode_row("puback_empty", v5, "40 00", kMalformed),
      decode_row("puback_trailing_byte_v311", v4, "40 03 00 01 00", kMalformed),
      decode_row("puback_v5_invalid_reason", v5, "40 03 00 01 05", kMalformed),
      decode_row("pubrel_v5_puback_only_reason", v5, "62 03 00 01 10", kMalformed),
      decode_row("pubcomp_v5_invalid_reason", v5, "70 03 00 01 80", kMalformed),
      decode_row("puback_v5_properties_truncated", v5, "40 05 00 01 00 05 1F", kMalformed),
      // ---- SUBSCRIBE ----
      decode_row("subscribe_packet_id_0", v4, "82 06 00 00 00 01 61 00", kMalformed),
      decode_row("subscribe_no_filters", v4, "82 02 00 01", kProtocol),
      decode_row("subscribe_no_filters_v5", v5, "82 03 00 01 00", kProtocol),
      decode_row("subscribe_qos_3", v4, "82 06 00 01 00 01 61 03", kMalformed),
      decode_row("subscribe_reserved_bits_v311", v4, "82 06 00 01 00 01 61 04", kMalformed),
      decode_row("subscribe_reserved_bit_7_v311", v4, "82 06 00 01 00 01 61 80", kMalformed),
      decode_row("subscribe_reserved_bits_v5", v5, "82 07 00 01 00 00 01 61 40", kMalformed),
      decode_row("subscribe_empty_filter", v4, "82 05 00 01 00 00 00", kMalformed),
      decode_row("subscribe_missing_options", v4, "82 05 00 01 00 01 61", kMalformed),
      decode_row("subscribe_invalid_utf8_filter", v4, "82 06 00 01 00 01 FF 00", kMalformed),
      decode_row("subscribe_nul_in_filter", v4, "82 06 00 01 00 01 00 00", kMalformed),
      decode_row("subscribe_truncated_second_filter", v4, "82 09 00 01 00 01 61 00 00 05 62", kMalformed),
      // 5.0 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
      decode_row("subscribe_qos_3_v5", v5, "82 07 00 01 00 00 01 61 03", kProtocol),
      // 5.0 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
      decode_row("subscribe_retain_handling_3_v5", v5, "82 07 00 01 00 00 01 61 30", kProtocol),
      // ---- SUBACK, UNSUBSCRIBE, UNSUBACK ----
      decode_row("suback_no_codes", v4, "90 02 00 01", kMalformed),
      decode_row("suback_v5_no_codes", v5, "90 03 00 01 00", kMalformed),
      decode_row("unsubscribe_packet_id_0", v4, "A2 05 00 00 00 01 61", kMalformed),
      decode_row("unsubscribe_no_filters", v4, "A2 02 00 01", kProtocol),
      decode_row("unsubscribe_no_filters_v5", v5, "A2 03 00 01 00", kProtocol),
      decode_row("unsubscribe_empty_filter", v4, "A2 04 00 01 00 00", kMalformed),
      decode_row("unsubscribe_truncated_filter", v4, "A2 05 00 01 00 04 61", kMalformed),
      decode_row("unsubscribe_invalid_utf8_filter", v4, "A2 05 00 01 00 01 C1", kMalformed),
      decode_row("unsuback_trailing_byte_v311", v4, "B0 03 00 01 00", kMalformed),
      decode_row("unsuback_v5_missing_properties", v5, "B0 02 00 01", kMalformed),
      // ---- PINGREQ, PINGRESP, DISCONNECT ----
      decode_row("pingreq_with_body", v4, "C0 01 00", kMalformed),
      decode_row("pingreq_with_body_v5", v5, "C0 01 00", kMalformed),
      decode_row("pingresp_with_body", v4, "D0 01 00", kMalformed),
      decode_row("disconnect_with_body_v311", v4, "E0 01 00", kMalformed),
      decode_row("disconnect_v5_properties_truncated", v5, "E0 03 00 05 11", kMalformed),
      // ---- v5 properties ----
      decode_row("v5_duplicate_property", v5, "30 0E 00 01 74 0A 02 00 00 00 01 02 00 00 00 02", kProtocol),
      decode_row("v5_duplicate_session_expiry_in_connect", v5,
                 "10 18 00 04 4D 51 54 54 05 02 00 3C 0A 11 00 00 00 01 11 00 00 00 02 00 01 61", kProtocol),
      decode_row("v5_unknown_property_id", v5, "30 06 00 01 74 02 05 00", kMalformed),
      decode_row("v5_property_id_above_255", v5, "30 06 00 01 74 02 80 02", kMalformed),
      // 257 would alias to 0x01 (Payload Format Indicator) if truncated to a byte.
      decode_row("v5_property_id_257", v5, "30 07 00 01 74 03 81 02 01", kMalformed),
      decode_row("v5_property_length_beyond_packet", v5, "30 05 00 01 74 05 01", kMalformed),
      decode_row("v5_property_value_truncated", v5, "30 06 00 01 74 02 02 00", kMalformed),
      decode_row("v5_receive_maximum_0", v5, "10 11 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 01 61", kProtocol),
      decode_row("v5_maximum_qos_2_in_connack", v5, "20 05 00 00 02 24 02", kProtocol),
      decode_row("v5_subscription_identifier_0", v5, "82 09 00 01 02 0B 00 00 01 61 00", kProtocol),
      decode_row("v5_subscription_identifier_twice_in_subscribe", v5, "82 0B 00 01 04 0B 01 0B 02 00 01 61 00",
                 kProtocol),
      decode_row("v5_user_property_invalid_utf8", v5, "30 0B 00 01 74 07 26 00 01 61 00 01 FF", kMalformed),
      decode_row("v5_will_property_duplicate", v5,
                 "10 1E 00 04 4D 51 54 54 05 06 00 3C 00 00 01 61 0A 18 00 00 00 01 18 00 00 00 02 00 01 74 00 00",
                 kProtocol),
      // 5.0 2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its
      // packet type [...] is a Malformed Packet."
      decode_row("v5_property_not_allowed_in_publish", v5, "30 09 00 01 74 05 11 00 00 00 0A", kMalformed),
      decode_row("v5_will_delay_in_connect_properties", v5, "10 13 00 04 4D 51 54 54 05 02 00 3C 05 18 00 00 00 05 00 01 61", kMalformed),
      decode_row("v5_reason_string_in_publish", v5, "30 08 00 01 74 04 1F 00 01 61", kMalformed),
  };
}

class Malformed : public ::testing::TestWithParam<Row> {};

TEST_P(Malformed, IsRefusedWithTheExpectedOutcome) {
  const Row& row = GetParam();
  std::string bytes = unhex(row.hex);
  FixedHeader h;
  FrameStatus st = parse_fixed_header(bytes, row.max_packet, h);
  if (row.frame != FrameStatus::ok) {
    EXPECT_EQ(st, row.frame);
    return;
  }
  ASSERT_EQ(st, FrameStatus::ok);
  ASSERT_EQ(h.total(), bytes.size()) << "the row's Remaining Length does not match its bytes";
  Packet out;
  DecodeResult r = decode_packet(h, std::string_view(bytes).substr(h.header_length), row.version, out);
  if (row.bug) {
    EXPECT_FALSE(r.ok()) << "the packet must at least be refused";
    GTEST_SKIP() << "decoder bug: " << row.bug << " (decoder says " << reason_name(r.reason) << ")";
  }
  EXPECT_EQ(r.reason, row.reason) << "decoder said: " << r.error;
  EXPECT_FALSE(r.error.empty()) << "a refusal carries a description for the log";
}

INSTANTIATE_TEST_SUITE_P(Table, Malformed, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MalformedTable, HasAtLeastFortyRowsWithUniqueNames) {
  auto table = rows();
  EXPECT_GE(table.size(), 40u);
  std::set<std::string> names;
  for (const auto& r : table) EXPECT_TRUE(names.insert(r.name).second) << r.name;
}

// What decode_packet leaves in `out` for an unsupported level: a Connect at 3.1.1, so the
// refusing CONNACK (0x01) goes out in the 3.1.1 form every client version can read (decoder.h).
struct LevelRow {
  const char* name;
  const char* hex;
  Version expected;
  const char* bug;
};

void PrintTo(const LevelRow& r, std::ostream* os) { *os << r.hex; }

class UnsupportedLevel : public ::testing::TestWithParam<LevelRow> {};

TEST_P(UnsupportedLevel, OutHoldsAConnectForTheLevelAskedFor) {
  const auto& row = GetParam();
  std::string bytes = unhex(row.hex);
  FixedHeader h;
  ASSERT_EQ(parse_fixed_header(bytes, kMaxPacket, h), FrameStatus::ok);
  Packet out;
  DecodeResult r = decode_packet(h, std::string_view(bytes).substr(h.header_length), Version::v311, out);
  ASSERT_EQ(r.reason, ReasonCode::unsupported_protocol_version);
  ASSERT_TRUE(std::holds_alternative<Connect>(out));
  if (row.bug) {
    // decoder bug: see `bug`; the contract in decoder.h is not kept.
    GTEST_SKIP() << "decoder bug: " << row.bug;
  }
  EXPECT_EQ(std::get<Connect>(out).version, row.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Table, UnsupportedLevel,
    ::testing::Values(
        LevelRow{"mqisdp_level_4", "10 0F 00 06 4D 51 49 73 64 70 04 02 00 3C 00 01 61", Version::v311, nullptr},
        LevelRow{"mqisdp_level_5", "10 0F 00 06 4D 51 49 73 64 70 05 02 00 3C 00 01 61", Version::v311, nullptr},
        LevelRow{"mqtt_level_3", "10 0D 00 04 4D 51 54 54 03 02 00 3C 00 01 61", Version::v311, nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mqbase::mqtt
