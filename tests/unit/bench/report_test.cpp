#include "bench/report.h"

#include <gtest/gtest.h>

namespace mqbase::bench {
namespace {

TEST(Report, JsonIsOneLineWithTheDocumentedKeys) {
  Report r;
  r.scenario = Scenario::fanout;
  r.qos = 1;
  r.size = 64;
  r.publishers = 1;
  r.subscribers = 16;
  r.sent = 1000;
  r.received = 16000;
  r.expected = 16000;
  r.msgs_per_sec = 123456.78;
  r.p50_us = 12.5;
  r.error = "say \"hi\"\n";
  std::string j = to_json(r);
  EXPECT_EQ(j.find('\n'), std::string::npos);
  for (const char* key : {"\"scenario\": \"fanout\"", "\"qos\": 1", "\"size\": 64", "\"publishers\": 1",
                          "\"subscribers\": 16", "\"sent\": 1000", "\"received\": 16000", "\"expected\": 16000",
                          "\"lost\": 0", "\"duplicates\": 0", "\"reordered\": 0", "\"msgs_per_sec\": 123456.8",
                          "\"p50_us\": 12.5", "\"p99_us\": ", "\"p999_us\": ", "\"duration_s\": ",
                          "\"error\": \"say \\\"hi\\\"\\n\""})
    EXPECT_NE(j.find(key), std::string::npos) << key << " in " << j;
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
}

TEST(Report, OkOnlyWithoutConnectionProblems) {
  Report r;
  EXPECT_TRUE(r.ok());
  r.connect_failures = 1;
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace mqbase::bench
