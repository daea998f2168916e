#include "bench/payload_header.h"

#include <gtest/gtest.h>

#include <string>

#include "bench/process_stats.h"

namespace mqbase::bench {
namespace {

TEST(PayloadHeader, RoundTrips) {
  std::string payload(64, 'x');
  PayloadHeader h{7, 123456, 0x0102030405060708ull};
  write_payload_header(h, payload.data());
  auto back = read_payload_header(payload);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
  EXPECT_EQ(payload.substr(16), std::string(48, 'x'));  // the rest of the payload is untouched
}

TEST(PayloadHeader, LayoutIsLittleEndianIdSequenceTimestamp) {
  char buf[16];
  write_payload_header({0x11223344, 0x55667788, 0x99AABBCCDDEEFF00ull}, buf);
  const unsigned char want[16] = {0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55,
                                  0x00, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99};
  EXPECT_EQ(std::memcmp(buf, want, 16), 0);
}

TEST(PayloadHeader, ExtremesRoundTrip) {
  char buf[16];
  PayloadHeader h{UINT32_MAX, UINT32_MAX, UINT64_MAX};
  write_payload_header(h, buf);
  EXPECT_EQ(*read_payload_header({buf, 16}), h);
}

TEST(PayloadHeader, ShortPayloadHasNoHeader) {
  EXPECT_FALSE(read_payload_header("hello"));
  EXPECT_FALSE(read_payload_header(std::string(15, '\0')));
  EXPECT_TRUE(read_payload_header(std::string(16, '\0')));
}

TEST(ProcStat, CpuSecondsFromUtimeAndStime) {
  // comm with spaces and a parenthesis; utime = 250, stime = 50 ticks at 100 Hz = 3 s.
  std::string stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0";
  auto s = parse_proc_stat_cpu_seconds(stat, 100);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(*s, 3.0);
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("garbage", 100));
  EXPECT_FALSE(parse_proc_stat_cpu_seconds("1 (x) S 1 2", 100));
}

}  // namespace
}  // namespace mqbase::bench
