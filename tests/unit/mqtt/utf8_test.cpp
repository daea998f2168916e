// UTF-8 validation as MQTT requires of every string ([MQTT-1.5.3-1..3] in 3.1.1 and 5.0):
// well-formed per RFC 3629 (no overlongs, no surrogates, nothing above U+10FFFF) and no U+0000.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "mqtt/utf8.h"

namespace mqbase::mqtt {
namespace {

struct Utf8Case {
  const char* name;
  std::string bytes;
  bool valid;
};

std::string hex_of(std::string_view s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
    out += ' ';
  }
  return out;
}

void PrintTo(const Utf8Case& c, std::ostream* os) { *os << hex_of(c.bytes); }

std::vector<Utf8Case> cases() {
  using namespace std::string_literals;
  return {
      // Well-formed.
      {"empty", "", true},
      {"ascii", "hello/world", true},
      {"ascii_space_and_symbols", " !~$#+", true},
      {"control_u0001_allowed", "\x01", true},  // SHOULD NOT, not MUST NOT: receivers may accept
      {"del_u007f", "\x7F", true},
      {"two_byte_min_u0080", "\xC2\x80", true},
      {"two_byte_e_acute", "\xC3\xA9", true},
      {"two_byte_max_u07ff", "\xDF\xBF", true},
      {"three_byte_min_u0800", "\xE0\xA0\x80", true},
      {"three_byte_euro", "\xE2\x82\xAC", true},
      {"three_byte_before_surrogates_ud7ff", "\xED\x9F\xBF", true},
      {"three_byte_after_surrogates_ue000", "\xEE\x80\x80", true},
      {"three_byte_bom_ufeff", "\xEF\xBB\xBF", true},  // [MQTT-1.5.3-3]: must not be stripped
      {"three_byte_noncharacter_uffff", "\xEF\xBF\xBF", true},
      {"four_byte_min_u10000", "\xF0\x90\x80\x80", true},
      {"four_byte_emoji", "\xF0\x9F\x98\x80", true},
      {"four_byte_max_u10ffff", "\xF4\x8F\xBF\xBF", true},
      {"mixed_widths", "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z", true},
      // U+0000 ([MQTT-1.5.3-2]).
      {"nul_alone", "\0"s, false},
      {"nul_inside", "a\0b"s, false},
      {"nul_at_end", "ab\0"s, false},
      // Overlong encodings.
      {"overlong_nul_c0_80", "\xC0\x80", false},
      {"overlong_slash_c0_af", "\xC0\xAF", false},
      {"overlong_c1_bf", "\xC1\xBF", false},
      {"overlong_three_byte_u0000", "\xE0\x80\x80", false},
      {"overlong_three_byte_u07ff", "\xE0\x9F\xBF", false},
      {"overlong_four_byte_u0000", "\xF0\x80\x80\x80", false},
      {"overlong_four_byte_uffff", "\xF0\x8F\xBF\xBF", false},
      // Surrogate halves U+D800..U+DFFF ([MQTT-1.5.3-1]).
      {"surrogate_ud800", "\xED\xA0\x80", false},
      {"surrogate_udbff", "\xED\xAF\xBF", false},
      {"surrogate_udc00", "\xED\xB0\x80", false},
      {"surrogate_udfff", "\xED\xBF\xBF", false},
      {"surrogate_pair_cesu8", "\xED\xA0\xBD\xED\xB8\x80", false},
      // Above U+10FFFF.
      {"above_max_u110000", "\xF4\x90\x80\x80", false},
      {"lead_f5", "\xF5\x80\x80\x80", false},
      {"lead_f7_max", "\xF7\xBF\xBF\xBF", false},
      // Truncated sequences.
      {"truncated_two_byte", "\xC3", false},
      {"truncated_two_byte_after_ascii", "abc\xC3", false},
      {"truncated_three_byte_one_missing", "\xE2\x82", false},
      {"truncated_three_byte_two_missing", "\xE2", false},
      {"truncated_four_byte", "\xF0\x9F\x98", false},
      {"two_byte_followed_by_ascii", "\xC3\x41", false},
      {"three_byte_interrupted_by_ascii", "\xE2\x82\x41", false},
      {"four_byte_interrupted_by_lead", "\xF0\x9F\xC3\xA9", false},
      // Lone continuation bytes.
      {"lone_continuation_80", "\x80", false},
      {"lone_continuation_bf", "\xBF", false},
      {"continuation_inside_ascii", "a\x80z", false},
      {"extra_continuation_after_char", "\xC3\xA9\xA9", false},
      // Bytes that never appear in UTF-8.
      {"byte_fe", "\xFE", false},
      {"byte_ff", "\xFF", false},
      {"byte_fe_after_ascii", "ab\xFE", false},
      {"five_byte_form_f8", "\xF8\x88\x80\x80\x80", false},
      {"six_byte_form_fc", "\xFC\x84\x80\x80\x80\x80", false},
      // F8..FF followed by what would be a valid four-byte tail: still not a lead byte.
      {"f8_with_four_byte_tail", "\xF8\x90\x80\x80", false},
      {"f9_with_four_byte_tail", "\xF9\x80\x80\x80", false},
      {"fe_with_continuations", "\xFE\x80\x80\x80", false},
      {"ff_with_continuations", "\xFF\xBF\xBF\xBF", false},
  };
}

class Utf8 : public ::testing::TestWithParam<Utf8Case> {};

TEST_P(Utf8, Validates) {
  const auto& c = GetParam();
  EXPECT_EQ(valid_utf8(c.bytes), c.valid) << "bytes: " << hex_of(c.bytes);
}

INSTANTIATE_TEST_SUITE_P(Table, Utf8, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Utf8Bounds, ASequenceCutByTheEndOfTheViewIsInvalid) {
  // The continuation bytes are in memory right after the view: the validator must stop at
  // the view's end, not at the end of the buffer.
  for (std::string_view full : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    EXPECT_TRUE(valid_utf8(full));
    for (size_t n = 1; n < full.size(); ++n) {
      EXPECT_FALSE(valid_utf8(full.substr(0, n))) << hex_of(full) << " cut to " << n;
      EXPECT_FALSE(valid_utf8(std::string("ab") + std::string(full.substr(0, n)))) << hex_of(full);
    }
  }
}

TEST(Utf8Scan, EveryCodePointRoundTripsThroughAHandWrittenEncoder) {
  // Encodes each scalar value independently of the validator and checks it is accepted;
  // each surrogate is rejected.
  auto encode = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  int wrong = 0;
  for (uint32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    bool expected = cp < 0xD800 || cp > 0xDFFF;
    if (valid_utf8(encode(cp)) != expected && ++wrong <= 5) ADD_FAILURE() << "code point U+" << std::hex << cp;
  }
  EXPECT_EQ(wrong, 0);
}

}  // namespace
}  // namespace mqbase::mqtt
