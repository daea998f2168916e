// MQTT 5 properties (5.0 section 2.2.2): the data type and byte layout of every identifier,
// the placement table (which packet may carry which property), the checks decode_properties
// makes, and that encoded_properties_size agrees with encode_properties.
#include "hex.h"
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/properties.h"
#include "mqtt/types.h"

namespace mqbase::mqtt {

// Readable gtest output for the codec's enums (static: found by ADL, private to this file).
[[maybe_unused]] static void PrintTo(ReasonCode r, std::ostream* os) { *os << reason_name(r); }
[[maybe_unused]] static void PrintTo(PropertyType t, std::ostream* os) {
  const char* names[] = {"byte", "two_byte", "four_byte", "varint", "utf8", "binary", "utf8_pair"};
  *os << names[static_cast<int>(t)];
}

namespace {

using namespace std::string_literals;
using T = PacketType;

using testing_hex::unhex;

std::string hex(std::string_view s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

// Where a property may appear, written out from the table in 5.0 section 2.2.2.2 (not derived
// from the code under test). `will` is CONNECT's will properties.
struct Placement {
  std::set<PacketType> packets;
  bool will = false;
};

const std::vector<PacketType> kTypesWithProperties = {
    T::connect, T::connack, T::publish, T::puback, T::pubrec, T::pubrel, T::pubcomp,
    T::subscribe, T::suback, T::unsubscribe, T::unsuback, T::disconnect, T::auth};

struct PropertyCase {
  const char* name;
  PropertyId id;
  PropertyType type;
  Property sample;
  std::string encoded;  // hex of the identifier and value, without the block length
  Placement placement;
};
void PrintTo(const PropertyCase& c, std::ostream* os) { *os << c.name; }

std::vector<PropertyCase> property_cases() {
  const auto P = [](PropertyId id, uint32_t n = 0, std::string_view v = {}, std::string_view v2 = {}) {
    return Property{id, n, v, v2};
  };
  static const std::string bin = "\0\xFF"s;
  using I = PropertyId;
  using Y = PropertyType;
  const Placement publish_and_will{{T::publish}, true};
  const std::set<PacketType> connack_only{T::connack};
  return {
      {"payload_format_indicator", I::payload_format_indicator, Y::byte, P(I::payload_format_indicator, 1), "01 01", publish_and_will},
      {"message_expiry_interval", I::message_expiry_interval, Y::four_byte, P(I::message_expiry_interval, 0x01020304), "02 01 02 03 04", publish_and_will},
      {"content_type", I::content_type, Y::utf8, P(I::content_type, 0, "ab"), "03 00 02 61 62", publish_and_will},
      {"response_topic", I::response_topic, Y::utf8, P(I::response_topic, 0, "ab"), "08 00 02 61 62", publish_and_will},
      {"correlation_data", I::correlation_data, Y::binary, P(I::correlation_data, 0, bin), "09 00 02 00 FF", publish_and_will},
      {"subscription_identifier", I::subscription_identifier, Y::varint, P(I::subscription_identifier, 300), "0B AC 02", {{T::publish, T::subscribe}}},
      {"session_expiry_interval", I::session_expiry_interval, Y::four_byte, P(I::session_expiry_interval, 0xFFFFFFFF), "11 FF FF FF FF", {{T::connect, T::connack, T::disconnect}}},
      {"assigned_client_identifier", I::assigned_client_identifier, Y::utf8, P(I::assigned_client_identifier, 0, "ab"), "12 00 02 61 62", {connack_only}},
      {"server_keep_alive", I::server_keep_alive, Y::two_byte, P(I::server_keep_alive, 0x1234), "13 12 34", {connack_only}},
      {"authentication_method", I::authentication_method, Y::utf8, P(I::authentication_method, 0, "ab"), "15 00 02 61 62", {{T::connect, T::connack, T::auth}}},
      {"authentication_data", I::authentication_data, Y::binary, P(I::authentication_data, 0, bin), "16 00 02 00 FF", {{T::connect, T::connack, T::auth}}},
      {"request_problem_information", I::request_problem_information, Y::byte, P(I::request_problem_information, 1), "17 01", {{T::connect}}},
      {"will_delay_interval", I::will_delay_interval, Y::four_byte, P(I::will_delay_interval, 60), "18 00 00 00 3C", {{}, true}},
      {"request_response_information", I::request_response_information, Y::byte, P(I::request_response_information, 1), "19 01", {{T::connect}}},
      {"response_information", I::response_information, Y::utf8, P(I::response_information, 0, "ab"), "1A 00 02 61 62", {connack_only}},
      {"server_reference", I::server_reference, Y::utf8, P(I::server_reference, 0, "ab"), "1C 00 02 61 62", {{T::connack, T::disconnect}}},
      {"reason_string", I::reason_string, Y::utf8, P(I::reason_string, 0, "ab"), "1F 00 02 61 62",
       {{T::connack, T::puback, T::pubrec, T::pubrel, T::pubcomp, T::suback, T::unsuback, T::disconnect, T::auth}}},
      {"receive_maximum", I::receive_maximum, Y::two_byte, P(I::receive_maximum, 0xFFFF), "21 FF FF", {{T::connect, T::connack}}},
      {"topic_alias_maximum", I::topic_alias_maximum, Y::two_byte, P(I::topic_alias_maximum, 10), "22 00 0A", {{T::connect, T::connack}}},
      {"topic_alias", I::topic_alias, Y::two_byte, P(I::topic_alias, 7), "23 00 07", {{T::publish}}},
      {"maximum_qos", I::maximum_qos, Y::byte, P(I::maximum_qos, 1), "24 01", {connack_only}},
      {"retain_available", I::retain_available, Y::byte, P(I::retain_available, 0), "25 00", {connack_only}},
      {"user_property", I::user_property, Y::utf8_pair, P(I::user_property, 0, "k", "v"), "26 00 01 6B 00 01 76",
       {{T::connect, T::connack, T::publish, T::puback, T::pubrec, T::pubrel, T::pubcomp, T::subscribe, T::suback,
         T::unsubscribe, T::unsuback, T::disconnect, T::auth},
        true}},
      {"maximum_packet_size", I::maximum_packet_size, Y::four_byte, P(I::maximum_packet_size, 1024), "27 00 00 04 00", {{T::connect, T::connack}}},
      {"wildcard_subscription_available", I::wildcard_subscription_available, Y::byte, P(I::wildcard_subscription_available, 1), "28 01", {connack_only}},
      {"subscription_identifier_available", I::subscription_identifier_available, Y::byte, P(I::subscription_identifier_available, 0), "29 00", {connack_only}},
      {"shared_subscription_available", I::shared_subscription_available, Y::byte, P(I::shared_subscription_available, 1), "2A 01", {connack_only}},
  };
}

class PropertyKind : public ::testing::TestWithParam<PropertyCase> {};

TEST_P(PropertyKind, HasItsSpecType) {
  const auto& c = GetParam();
  auto t = property_type(static_cast<uint8_t>(c.id));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, c.type);
}

TEST_P(PropertyKind, EncodesToSpecBytes) {
  const auto& c = GetParam();
  Properties props;
  props.items.push_back(c.sample);
  std::string out;
  encode_properties(props, out);
  std::string body = unhex(c.encoded);
  ASSERT_LT(body.size(), 128u);
  EXPECT_EQ(hex(out), hex(std::string(1, static_cast<char>(body.size())) + body));
  EXPECT_EQ(encoded_properties_size(props), out.size());
}

TEST_P(PropertyKind, DecodesInEveryAllowedPlaceAndNowhereElse) {
  const auto& c = GetParam();
  std::string body = unhex(c.encoded);
  std::string block = std::string(1, static_cast<char>(body.size())) + body + "tail";
  for (PacketType t : kTypesWithProperties) {
    SCOPED_TRACE(std::string(packet_type_name(t)));
    bool expected = c.placement.packets.contains(t);
    EXPECT_EQ(property_allowed(c.id, t), expected);
    std::string_view in = block;
    Properties out;
    ReasonCode rc = decode_properties(in, t, PropertyContext::packet, out);
    if (expected) {
      ASSERT_EQ(rc, ReasonCode::success);
      ASSERT_EQ(out.items.size(), 1u);
      EXPECT_TRUE(out.items[0] == c.sample);
      EXPECT_EQ(in, "tail") << "the block, and only the block, is consumed";
    } else {
      // The exact reason is checked in malformed_test (spec: Malformed Packet).
      EXPECT_NE(rc, ReasonCode::success);
    }
  }
  SCOPED_TRACE("will properties");
  EXPECT_EQ(property_allowed(c.id, T::connect, PropertyContext::will), c.placement.will);
  std::string_view in = block;
  Properties out;
  ReasonCode rc = decode_properties(in, T::connect, PropertyContext::will, out);
  if (c.placement.will) {
    ASSERT_EQ(rc, ReasonCode::success);
    ASSERT_EQ(out.items.size(), 1u);
    EXPECT_TRUE(out.items[0] == c.sample);
  } else {
    EXPECT_NE(rc, ReasonCode::success);
  }
}

TEST_P(PropertyKind, EveryTruncationOfTheValueIsMalformed) {
  const auto& c = GetParam();
  std::string body = unhex(c.encoded);
  // Declare a block length that cuts the property short, but give the bytes that follow so
  // that only the declared length limits the reader.
  for (size_t n = 1; n < body.size(); ++n) {
    std::string block = std::string(1, static_cast<char>(n)) + body;
    std::string_view in = block;
    Properties out;
    PacketType t = c.placement.packets.empty() ? T::connect : *c.placement.packets.begin();
    auto ctx = c.placement.packets.empty() ? PropertyContext::will : PropertyContext::packet;
    EXPECT_EQ(decode_properties(in, t, ctx, out), ReasonCode::malformed_packet) << n << " of " << body.size();
  }
}

INSTANTIATE_TEST_SUITE_P(EveryId, PropertyKind, ::testing::ValuesIn(property_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PropertyIds, OnlyTheSpecIdentifiersAreDefined) {
  std::set<uint8_t> defined;
  for (const auto& c : property_cases()) defined.insert(static_cast<uint8_t>(c.id));
  ASSERT_EQ(defined.size(), 27u);
  for (int id = 0; id < 256; ++id) {
    EXPECT_EQ(property_type(static_cast<uint8_t>(id)).has_value(), defined.contains(static_cast<uint8_t>(id)))
        << "id 0x" << std::hex << id;
  }
}

TEST(PropertyIds, UnknownIdentifierIsNeverAllowed) {
  EXPECT_FALSE(property_allowed(static_cast<PropertyId>(0x05), T::publish));
  EXPECT_FALSE(property_allowed(static_cast<PropertyId>(0x05), T::connect, PropertyContext::will));
}

// A block that holds one user property whose name has `name_size` bytes: body = 5 + name_size.
Properties user_property_block(std::string& storage, size_t name_size) {
  storage.assign(name_size, 'n');
  Properties p;
  p.add_user(storage, "");
  return p;
}

TEST(PropertySize, MatchesEncodingAcrossLengthWidths) {
  // Body sizes 0, 127 | 128 (length varint grows to 2 bytes), 16383 | 16384 (3 bytes).
  struct Width {
    size_t body;
    size_t length_bytes;
  };
  for (Width w : {Width{127, 1}, Width{128, 2}, Width{16383, 2}, Width{16384, 3}}) {
    std::string name;
    Properties p = user_property_block(name, w.body - 5);
    std::string out;
    encode_properties(p, out);
    EXPECT_EQ(out.size(), w.length_bytes + w.body) << w.body;
    EXPECT_EQ(encoded_properties_size(p), out.size()) << w.body;
    std::string_view in = out;
    Properties back;
    ASSERT_EQ(decode_properties(in, T::publish, PropertyContext::packet, back), ReasonCode::success) << w.body;
    EXPECT_TRUE(back == p);
    EXPECT_TRUE(in.empty());
  }
  Properties empty;
  std::string out;
  encode_properties(empty, out);
  EXPECT_EQ(hex(out), "00");
  EXPECT_EQ(encoded_properties_size(empty), 1u);
}

TEST(PropertySize, MatchesEncodingForEveryKindTogether) {
  Properties all;
  for (const auto& c : property_cases()) all.items.push_back(c.sample);
  all.add_user("second", "pair");
  all.add_number(PropertyId::subscription_identifier, 268435455);  // 4-byte varint
  all.add_number(PropertyId::subscription_identifier, 1);
  std::string out = "xyz";
  encode_properties(all, out);
  EXPECT_EQ(encoded_properties_size(all), out.size() - 3);
}

TEST(PropertyDecode, UserPropertiesRepeatAndKeepTheirOrder) {
  // A name may repeat (5.0 3.1.2.11.8) and the order must survive ([MQTT-3.3.2-18]).
  std::string block = unhex("16 26 00 01 6B 00 02 76 31 26 00 01 6B 00 02 76 32 26 00 01 61 00 00");
  std::string_view in = block;
  Properties out;
  ASSERT_EQ(decode_properties(in, T::publish, PropertyContext::packet, out), ReasonCode::success);
  ASSERT_EQ(out.items.size(), 3u);
  EXPECT_EQ(out.items[0].value, "k");
  EXPECT_EQ(out.items[0].value2, "v1");
  EXPECT_EQ(out.items[1].value, "k");
  EXPECT_EQ(out.items[1].value2, "v2");
  EXPECT_EQ(out.items[2].value, "a");
  EXPECT_EQ(out.items[2].value2, "");
}

TEST(PropertyDecode, SubscriptionIdentifierRepeatsInPublishOnly) {
  std::string block = unhex("04 0B 01 0B 02");
  std::string_view in = block;
  Properties out;
  ASSERT_EQ(decode_properties(in, T::publish, PropertyContext::packet, out), ReasonCode::success);
  ASSERT_EQ(out.items.size(), 2u);
  EXPECT_EQ(out.items[0].number, 1u);
  EXPECT_EQ(out.items[1].number, 2u);
  in = block;
  Properties sub;
  EXPECT_EQ(decode_properties(in, T::subscribe, PropertyContext::packet, sub), ReasonCode::protocol_error);
}

struct BlockCase {
  const char* name;
  PacketType type;
  PropertyContext ctx;
  const char* block;  // hex, starting with the length varint
  ReasonCode expected;
};
void PrintTo(const BlockCase& c, std::ostream* os) { *os << c.name << " [" << c.block << "]"; }

std::vector<BlockCase> block_cases() {
  const auto pk = PropertyContext::packet;
  const auto wl = PropertyContext::will;
  return {
      {"empty_block", T::publish, pk, "00", ReasonCode::success},
      {"missing_length", T::publish, pk, "", ReasonCode::malformed_packet},
      {"length_varint_truncated", T::publish, pk, "80", ReasonCode::malformed_packet},
      {"length_varint_five_bytes", T::publish, pk, "80 80 80 80 01", ReasonCode::malformed_packet},
      {"length_beyond_input", T::publish, pk, "05 01 01", ReasonCode::malformed_packet},
      {"unknown_id_00", T::publish, pk, "02 00 00", ReasonCode::malformed_packet},
      {"unknown_id_05", T::publish, pk, "02 05 00", ReasonCode::malformed_packet},
      {"unknown_id_2b", T::connack, pk, "02 2B 00", ReasonCode::malformed_packet},
      {"id_varint_256", T::publish, pk, "02 80 02", ReasonCode::malformed_packet},
      {"id_varint_257_is_not_payload_format", T::publish, pk, "03 81 02 01", ReasonCode::malformed_packet},
      {"id_varint_truncated", T::publish, pk, "01 80", ReasonCode::malformed_packet},
      {"duplicate_message_expiry", T::publish, pk, "0A 02 00 00 00 01 02 00 00 00 02", ReasonCode::protocol_error},
      {"duplicate_content_type", T::publish, pk, "08 03 00 01 61 03 00 01 62", ReasonCode::protocol_error},
      {"duplicate_session_expiry", T::connect, pk, "0A 11 00 00 00 01 11 00 00 00 01", ReasonCode::protocol_error},
      {"duplicate_will_delay", T::connect, wl, "0A 18 00 00 00 01 18 00 00 00 01", ReasonCode::protocol_error},
      {"duplicate_reason_string", T::puback, pk, "08 1F 00 01 61 1F 00 01 61", ReasonCode::protocol_error},
      {"payload_format_2", T::publish, pk, "02 01 02", ReasonCode::protocol_error},
      {"request_problem_information_2", T::connect, pk, "02 17 02", ReasonCode::protocol_error},
      {"request_response_information_2", T::connect, pk, "02 19 02", ReasonCode::protocol_error},
      {"maximum_qos_2", T::connack, pk, "02 24 02", ReasonCode::protocol_error},
      {"retain_available_2", T::connack, pk, "02 25 02", ReasonCode::protocol_error},
      {"wildcard_available_2", T::connack, pk, "02 28 02", ReasonCode::protocol_error},
      {"subscription_id_available_2", T::connack, pk, "02 29 02", ReasonCode::protocol_error},
      {"shared_available_2", T::connack, pk, "02 2A 02", ReasonCode::protocol_error},
      {"receive_maximum_0", T::connect, pk, "03 21 00 00", ReasonCode::protocol_error},
      {"maximum_packet_size_0", T::connack, pk, "05 27 00 00 00 00", ReasonCode::protocol_error},
      {"topic_alias_0_is_left_to_the_broker", T::publish, pk, "03 23 00 00", ReasonCode::success},
      {"subscription_identifier_0", T::subscribe, pk, "02 0B 00", ReasonCode::protocol_error},
      {"subscription_identifier_varint_truncated", T::subscribe, pk, "02 0B 80", ReasonCode::malformed_packet},
      {"topic_alias_maximum_0_is_allowed", T::connect, pk, "03 22 00 00", ReasonCode::success},
      {"session_expiry_0_is_allowed", T::connect, pk, "05 11 00 00 00 00", ReasonCode::success},
      {"utf8_invalid", T::publish, pk, "04 03 00 01 FF", ReasonCode::malformed_packet},
      {"utf8_nul", T::publish, pk, "04 03 00 01 00", ReasonCode::malformed_packet},
      {"utf8_surrogate", T::publish, pk, "06 03 00 03 ED A0 80", ReasonCode::malformed_packet},
      {"utf8_string_longer_than_block", T::publish, pk, "04 03 00 05 61", ReasonCode::malformed_packet},
      {"user_property_value_invalid_utf8", T::publish, pk, "07 26 00 01 61 00 01 C0", ReasonCode::malformed_packet},
      {"user_property_missing_value", T::publish, pk, "04 26 00 01 61", ReasonCode::malformed_packet},
      {"binary_may_hold_any_byte", T::publish, pk, "06 09 00 03 00 FF C0", ReasonCode::success},
      {"reason_string_in_will", T::connect, wl, "04 1F 00 01 61", ReasonCode::malformed_packet},
      {"session_expiry_in_will", T::connect, wl, "05 11 00 00 00 01", ReasonCode::malformed_packet},
  };
}

class PropertyBlock : public ::testing::TestWithParam<BlockCase> {};
TEST_P(PropertyBlock, Decodes) {
  const auto& c = GetParam();
  std::string block = unhex(c.block);
  std::string_view in = block;
  Properties out;
  EXPECT_EQ(decode_properties(in, c.type, c.ctx, out), c.expected) << c.block;
}
INSTANTIATE_TEST_SUITE_P(Table, PropertyBlock, ::testing::ValuesIn(block_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(PropertiesAccessors, FindNumberString) {
  Properties p;
  p.add_number(PropertyId::message_expiry_interval, 42);
  p.add_string(PropertyId::content_type, "json");
  p.add_user("k", "v");
  p.add_user("k", "w");
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.number(PropertyId::message_expiry_interval), 42u);
  EXPECT_EQ(p.string(PropertyId::content_type), "json");
  EXPECT_EQ(p.number(PropertyId::topic_alias), std::nullopt);
  EXPECT_EQ(p.string(PropertyId::response_topic), std::nullopt);
  ASSERT_NE(p.find(PropertyId::user_property), nullptr);
  EXPECT_EQ(p.find(PropertyId::user_property)->value2, "v") << "find returns the first";
  EXPECT_TRUE(Properties{}.empty());
}

}  // namespace
}  // namespace mqbase::mqtt
