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

TEST(Report, AcknowledgedAndLostAfterAckAreShown) {
  Report r;
  r.scenario = Scenario::fanin;
  r.qos = 1;
  r.sent = 1000;
  r.acked = 1000;
  r.received = 990;
  r.expected = 1000;
  r.lost = 10;
  r.lost_acked = 10;
  std::string j = to_json(r);
  EXPECT_NE(j.find("\"acked\": 1000"), std::string::npos) << j;
  EXPECT_NE(j.find("\"lost_acked\": 10"), std::string::npos) << j;
  std::string t = to_text(r);
  EXPECT_NE(t.find("received 990 of 1000 expected: lost 10"), std::string::npos) << t;
  EXPECT_NE(t.find("1000 of 1000 sent acknowledged by the broker; 10 acknowledged but never received"),
            std::string::npos)
      << t;
  r.qos = 0;
  EXPECT_EQ(to_text(r).find("acknowledged"), std::string::npos) << "QoS 0 has no acknowledgements to show";
}

TEST(Report, StormKeysOnlyWithAStorm) {
  Report r;
  std::string j = to_json(r);
  EXPECT_EQ(j.find("storm"), std::string::npos) << j;
  EXPECT_EQ(to_text(r).find("storm"), std::string::npos);
  r.storm_rate = 5000;
  r.storm_filters = 10;
  r.storm_clients = 49'000;
  r.storm_clients_per_sec = 4900;
  r.calm_msgs_per_sec = 300'000;
  r.storm_msgs_per_sec = 200'000;
  r.calm_broker_cpu_pct = 99;
  r.storm_broker_cpu_pct = 100;
  r.calm_bench_cpu_pct = 50;
  r.storm_bench_cpu_pct = 70;
  EXPECT_NEAR(r.storm_ratio(), 2.0 / 3.0, 1e-9);
  j = to_json(r);
  for (const char* key : {"\"storm_rate\": 5000.0", "\"storm_filters\": 10", "\"storm_clients\": 49000",
                          "\"storm_failures\": 0", "\"storm_clients_per_sec\": 4900.0",
                          "\"storm_subscribe_p50_us\": ", "\"storm_subscribe_p99_us\": ",
                          "\"calm_msgs_per_sec\": 300000.0", "\"storm_msgs_per_sec\": 200000.0",
                          "\"storm_ratio\": 0.6667", "\"calm_broker_cpu_pct\": 99.0", "\"storm_broker_cpu_pct\": 100.0",
                          "\"calm_bench_cpu_pct\": 50.0", "\"storm_bench_cpu_pct\": 70.0"})
    EXPECT_NE(j.find(key), std::string::npos) << key << " in " << j;
  std::string t = to_text(r);
  EXPECT_NE(t.find("300.0 kmsg/s undisturbed, 200.0 kmsg/s under the storm: 67 % of the undisturbed rate"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("5000 clients/s asked, 4900/s done: 49000 clients of 10 filters, 0 failed"), std::string::npos) << t;
  r.calm_msgs_per_sec = 0;
  EXPECT_EQ(r.storm_ratio(), 0);
}

TEST(Report, OkOnlyWithoutConnectionProblems) {
  Report r;
  EXPECT_TRUE(r.ok());
  r.connect_failures = 1;
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace mqbase::bench
