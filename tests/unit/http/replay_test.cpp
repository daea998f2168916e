// The pieces of http/replay.h that need no server: which archive filter covers a replay's
// filter, and the times replay-from and db/replay take. The replay itself is tested end to
// end in tests/integration/test_replay.py.
#include <gtest/gtest.h>

#include "http/replay.h"

namespace mqbase::http {
namespace {

TEST(FilterWithin, ExactWildcardAndDepth) {
  EXPECT_TRUE(filter_within("plant/a/temp", "plant/#"));
  EXPECT_TRUE(filter_within("plant/#", "plant/#"));
  EXPECT_TRUE(filter_within("plant", "plant/#"));  // "plant/#" matches "plant" itself
  EXPECT_TRUE(filter_within("plant/+/temp", "plant/+/temp"));
  EXPECT_TRUE(filter_within("plant/l1/temp", "plant/+/temp"));
  EXPECT_TRUE(filter_within("plant/+/temp", "#"));
  EXPECT_TRUE(filter_within("a/b", "+/+"));
  EXPECT_FALSE(filter_within("plant/#", "plant/+/temp"));    // deeper topics than the rule keeps
  EXPECT_FALSE(filter_within("plant/+/temp", "plant/l1/temp"));
  EXPECT_FALSE(filter_within("plant/a", "plant/a/b"));
  EXPECT_FALSE(filter_within("plant/a/b/c", "plant/+/b"));
  EXPECT_FALSE(filter_within("other/x", "plant/#"));
  EXPECT_FALSE(filter_within("#", "plant/#"));
  EXPECT_FALSE(filter_within("$SYS/broker/x", "#"));       // '#' does not match '$' topics
  EXPECT_FALSE(filter_within("$SYS/broker/x", "+/broker/x"));
  EXPECT_TRUE(filter_within("$SYS/broker/x", "$SYS/#"));
}

TEST(ReplayTime, DurationsTimestampsAndEpochNumbers) {
  const int64_t now = 1'765'000'000'000'000'000;  // 2025-12-06T05:46:40Z
  int64_t t = 0;
  std::string error;
  ASSERT_TRUE(parse_replay_time("1h", now, &t, &error)) << error;
  EXPECT_EQ(t, now - 3'600'000'000'000);
  ASSERT_TRUE(parse_replay_time("-15m", now, &t, &error)) << error;
  EXPECT_EQ(t, now - 900'000'000'000);
  ASSERT_TRUE(parse_replay_time(" now ", now, &t, &error)) << error;
  EXPECT_EQ(t, now);
  ASSERT_TRUE(parse_replay_time("2026-12-06T10:00:00Z", now, &t, &error)) << error;
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("2026-12-06 11:00:00+01", now, &t, &error)) << error;
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("1796551200", now, &t, &error)) << error;        // s
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("1796551200000", now, &t, &error)) << error;     // ms
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("1796551200000000", now, &t, &error)) << error;  // us
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("1796551200000000000", now, &t, &error)) << error;  // ns
  EXPECT_EQ(t, 1'796'551'200'000'000'000);
  ASSERT_TRUE(parse_replay_time("0", now, &t, &error)) << error;
  EXPECT_EQ(t, 0);
}

TEST(ReplayTime, ErrorsSayWhatIsExpected) {
  int64_t t = 0;
  std::string error;
  EXPECT_FALSE(parse_replay_time("", 0, &t, &error));
  EXPECT_NE(error.find("a time is expected"), std::string::npos) << error;
  for (const char* bad : {"yesterday", "1 fortnight", "12:00 tomorrow", "99999999999999999999"}) {
    error.clear();
    EXPECT_FALSE(parse_replay_time(bad, 0, &t, &error)) << bad;
    EXPECT_NE(error.find("is not a time"), std::string::npos) << bad << ": " << error;
  }
}

}  // namespace
}  // namespace mqbase::http
