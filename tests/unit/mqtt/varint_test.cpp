// Variable Byte Integer ([MQTT-1.5.5] in 5.0, 2.2.3 in 3.1.1): the encoding at every width
// boundary, decoding of every truncation, and the four-byte limit.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "mqtt/types.h"
#include "mqtt/varint.h"

namespace mqbase::mqtt {
namespace {

std::string bytes(std::initializer_list<uint8_t> b) {
  std::string s;
  for (uint8_t c : b) s.push_back(static_cast<char>(c));
  return s;
}

struct VarintCase {
  const char* name;
  uint32_t value;
  std::string encoded;
};

void PrintTo(const VarintCase& c, std::ostream* os) { *os << c.value; }

// The boundaries from the spec's table: the smallest and largest value of each width.
std::vector<VarintCase> boundary_cases() {
  return {
      {"zero", 0, bytes({0x00})},
      {"one_byte_max_127", 127, bytes({0x7F})},
      {"two_byte_min_128", 128, bytes({0x80, 0x01})},
      {"two_byte_max_16383", 16383, bytes({0xFF, 0x7F})},
      {"three_byte_min_16384", 16384, bytes({0x80, 0x80, 0x01})},
      {"three_byte_max_2097151", 2097151, bytes({0xFF, 0xFF, 0x7F})},
      {"four_byte_min_2097152", 2097152, bytes({0x80, 0x80, 0x80, 0x01})},
      {"four_byte_max_268435455", 268435455, bytes({0xFF, 0xFF, 0xFF, 0x7F})},
      {"value_321", 321, bytes({0xC1, 0x02})},
  };
}

class VarintBoundary : public ::testing::TestWithParam<VarintCase> {};

TEST_P(VarintBoundary, EncodesToSpecBytes) {
  const auto& c = GetParam();
  std::string out = "prefix";
  encode_varint(c.value, out);
  EXPECT_EQ(out, "prefix" + c.encoded) << "encode_varint appends, it does not overwrite";
  EXPECT_EQ(varint_size(c.value), c.encoded.size());
}

TEST_P(VarintBoundary, DecodesValueAndLength) {
  const auto& c = GetParam();
  auto r = decode_varint(c.encoded);
  ASSERT_EQ(r.status, VarintStatus::ok);
  EXPECT_EQ(r.value, c.value);
  EXPECT_EQ(r.length, c.encoded.size());
}

TEST_P(VarintBoundary, IgnoresBytesAfterTheInteger) {
  const auto& c = GetParam();
  std::string in = c.encoded + bytes({0xFF, 0x80, 0x00});
  auto r = decode_varint(in);
  ASSERT_EQ(r.status, VarintStatus::ok);
  EXPECT_EQ(r.value, c.value);
  EXPECT_EQ(r.length, c.encoded.size());
}

TEST_P(VarintBoundary, EveryTruncationNeedsMore) {
  const auto& c = GetParam();
  for (size_t n = 0; n < c.encoded.size(); ++n) {
    auto r = decode_varint(std::string_view(c.encoded).substr(0, n));
    EXPECT_EQ(r.status, VarintStatus::need_more) << "prefix of " << n << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(Boundaries, VarintBoundary, ::testing::ValuesIn(boundary_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Varint, FiveByteEncodingIsMalformed) {
  // 268,435,456 would need a fifth byte; the spec allows at most four.
  EXPECT_EQ(decode_varint(bytes({0x80, 0x80, 0x80, 0x80, 0x01})).status, VarintStatus::malformed);
  EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x7F})).status, VarintStatus::malformed);
}

TEST(Varint, FourthByteWithContinuationIsMalformedWithoutWaitingForAFifth) {
  // The decoder must not ask for more bytes it would reject anyway.
  EXPECT_EQ(decode_varint(bytes({0x80, 0x80, 0x80, 0x80})).status, VarintStatus::malformed);
  EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF, 0xFF})).status, VarintStatus::malformed);
}

TEST(Varint, ThreeContinuationBytesStillNeedMore) {
  EXPECT_EQ(decode_varint(bytes({0xFF, 0xFF, 0xFF})).status, VarintStatus::need_more);
}

TEST(Varint, SizeMatchesEncodingAcrossTheRange) {
  // Every power of two and its neighbours up to the maximum.
  for (uint64_t p = 1; p <= kMaxRemainingLength; p <<= 1) {
    for (uint64_t v : {p - 1, p, p + 1}) {
      if (v > kMaxRemainingLength) continue;
      std::string out;
      encode_varint(static_cast<uint32_t>(v), out);
      ASSERT_EQ(out.size(), varint_size(static_cast<uint32_t>(v))) << v;
      auto r = decode_varint(out);
      ASSERT_EQ(r.status, VarintStatus::ok) << v;
      ASSERT_EQ(r.value, v);
      ASSERT_EQ(r.length, out.size());
    }
  }
}

}  // namespace
}  // namespace mqbase::mqtt
