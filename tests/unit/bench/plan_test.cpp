#include "bench/plan.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "mqtt/topic.h"

namespace mqbase::bench {
namespace {

BenchOptions options(Scenario s, uint32_t count) {
  BenchOptions o;
  o.scenario = s;
  o.count = count;
  return o;
}

TEST(Plan, FaninIsManyPublishersToOneSubscriber) {
  Plan p = make_plan(options(Scenario::fanin, 16), "run1");
  ASSERT_EQ(p.publishers.size(), 16u);
  ASSERT_EQ(p.subscribers.size(), 1u);
  EXPECT_EQ(p.publishers[3].topic, "bench/run1/3");
  EXPECT_EQ(p.subscribers[0].filter, "bench/run1/+");
  EXPECT_EQ(p.subscribers[0].publisher_first, 0u);
  EXPECT_EQ(p.subscribers[0].publisher_count, 16u);
  for (const auto& pub : p.publishers) {
    EXPECT_EQ(pub.subscriber_first, 0u);
    EXPECT_EQ(pub.subscriber_count, 1u);
  }
  EXPECT_TRUE(p.streams_known);
  EXPECT_TRUE(p.end_to_end);
  EXPECT_EQ(p.connections(), 17u);
}

TEST(Plan, FanoutIsOnePublisherToManySubscribers) {
  Plan p = make_plan(options(Scenario::fanout, 10), "r");
  ASSERT_EQ(p.publishers.size(), 1u);
  ASSERT_EQ(p.subscribers.size(), 10u);
  EXPECT_EQ(p.publishers[0].subscriber_count, 10u);
  for (const auto& s : p.subscribers) {
    EXPECT_EQ(s.filter, p.publishers[0].topic);
    EXPECT_EQ(s.publisher_count, 1u);
  }
}

TEST(Plan, PairsHaveTheirOwnTopics) {
  for (Scenario s : {Scenario::p2p, Scenario::latency}) {
    Plan p = make_plan(options(s, 4), "r");
    ASSERT_EQ(p.publishers.size(), 4u);
    ASSERT_EQ(p.subscribers.size(), 4u);
    for (uint32_t i = 0; i < 4; ++i) {
      EXPECT_EQ(p.publishers[i].topic, "bench/r/" + std::to_string(i));
      EXPECT_EQ(p.subscribers[i].filter, p.publishers[i].topic);
      EXPECT_EQ(p.publishers[i].subscriber_first, i);
      EXPECT_EQ(p.publishers[i].subscriber_count, 1u);
      EXPECT_EQ(p.subscribers[i].publisher_first, i);
    }
  }
}

TEST(Plan, ExpectedDeliveriesFanin) {
  // 16 publishers -> 1 subscriber: each message is delivered once.
  Plan p = make_plan(options(Scenario::fanin, 16), "r");
  std::vector<uint64_t> sent(16, 1000);
  sent[5] = 7;
  EXPECT_EQ(expected_deliveries(p, sent), 15u * 1000 + 7);
}

TEST(Plan, ExpectedDeliveriesFanout) {
  // 1 publisher -> 16 subscribers: each message is delivered 16 times.
  Plan p = make_plan(options(Scenario::fanout, 16), "r");
  std::vector<uint64_t> sent{12345};
  EXPECT_EQ(expected_deliveries(p, sent), 16u * 12345);
}

TEST(Plan, ExpectedDeliveriesP2pAndPub) {
  Plan pairs = make_plan(options(Scenario::p2p, 3), "r");
  std::vector<uint64_t> sent{10, 20, 30};
  EXPECT_EQ(expected_deliveries(pairs, sent), 60u);
  Plan pub = make_plan(options(Scenario::pub, 3), "r");
  EXPECT_EQ(expected_deliveries(pub, sent), 0u);  // no subscribers in this run
  EXPECT_FALSE(pub.end_to_end);
}

TEST(Plan, SubHasUnknownStreams) {
  Plan p = make_plan(options(Scenario::sub, 2), "r");
  EXPECT_EQ(p.subscribers.size(), 2u);
  EXPECT_EQ(p.subscribers[0].filter, "bench/#");
  EXPECT_FALSE(p.streams_known);
  EXPECT_TRUE(p.publishers.empty());
}

TEST(Plan, ConnIsIdleConnections) {
  Plan p = make_plan(options(Scenario::conn, 500), "r");
  EXPECT_EQ(p.idle_connections, 500u);
  EXPECT_EQ(p.connections(), 500u);
}

TEST(Plan, DefaultsWhenCountIsZero) {
  EXPECT_EQ(make_plan(options(Scenario::fanin, 0), "r").publishers.size(), default_count(Scenario::fanin));
  EXPECT_EQ(make_plan(options(Scenario::fanout, 0), "r").subscribers.size(), default_count(Scenario::fanout));
}

TEST(Plan, UserTopicPatternAndFilter) {
  BenchOptions o = options(Scenario::fanin, 2);
  o.topic = "plant/%i/temp";
  Plan p = make_plan(o, "r");
  EXPECT_EQ(p.publishers[1].topic, "plant/1/temp");
  EXPECT_EQ(p.subscribers[0].filter, "plant/+/temp");
  o.topic = "dev%i/temp";
  EXPECT_THROW(make_plan(o, "r"), PlanError);
  o.filter = "#";
  EXPECT_EQ(make_plan(o, "r").subscribers[0].filter, "#");
}

TEST(Plan, TooSmallPayloadIsRefused) {
  BenchOptions o = options(Scenario::fanin, 1);
  o.size = 15;
  EXPECT_THROW(make_plan(o, "r"), PlanError);
}

TEST(Plan, PairsNeedDistinctTopics) {
  BenchOptions o = options(Scenario::p2p, 2);
  o.topic = "same/topic";
  EXPECT_THROW(make_plan(o, "r"), PlanError);
}

TEST(Plan, NoStormUnlessAsked) {
  Plan p = make_plan(options(Scenario::fanin, 16), "r");
  EXPECT_EQ(p.storm.clients_per_sec, 0);
  EXPECT_EQ(p.connections(), 17u);  // storm clients come and go: not counted as connections
}

TEST(Plan, StormRunsNextToPublishersAndSubscribers) {
  for (Scenario s : {Scenario::fanin, Scenario::fanout, Scenario::p2p, Scenario::latency}) {
    BenchOptions o = options(s, 4);
    o.storm_rate = 5000;
    Plan p = make_plan(o, "r");
    EXPECT_EQ(p.storm.clients_per_sec, 5000);
    EXPECT_EQ(p.storm.filters, 10u);
    EXPECT_EQ(p.storm.prefix, "bench/r/storm");
  }
  for (Scenario s : {Scenario::conn, Scenario::pub, Scenario::sub}) {
    BenchOptions o = options(s, 4);
    o.storm_rate = 5000;
    EXPECT_THROW(make_plan(o, "r"), PlanError) << scenario_name(s);
  }
  BenchOptions o = options(Scenario::fanin, 4);
  o.storm_rate = 1;
  o.storm_filters = 0;
  EXPECT_THROW(make_plan(o, "r"), PlanError);
}

TEST(Plan, StormFiltersAreValidDistinctAndMatchNoTopicOfTheRun) {
  for (Scenario s : {Scenario::fanin, Scenario::fanout, Scenario::p2p}) {
    BenchOptions o = options(s, 16);
    o.storm_rate = 5000;
    Plan p = make_plan(o, "r");
    std::set<std::string> all;
    bool plus = false, hash = false;
    for (uint64_t client = 0; client < 200; ++client) {
      std::vector<std::string> filters = storm_filters(p, client);
      ASSERT_EQ(filters.size(), 10u);
      for (const auto& f : filters) {
        EXPECT_TRUE(mqtt::valid_topic_filter(f)) << f;
        EXPECT_TRUE(all.insert(f).second) << "filter repeated: " << f;
        plus = plus || f.find('+') != std::string::npos;
        hash = hash || f.find('#') != std::string::npos;
        for (const auto& pub : p.publishers) EXPECT_FALSE(mqtt::topic_matches(f, pub.topic)) << f << " " << pub.topic;
      }
    }
    EXPECT_TRUE(plus && hash) << "the storm should change wildcard nodes of the index too";
  }
  BenchOptions o = options(Scenario::fanin, 2);
  o.storm_rate = 1;
  o.storm_filters = 3;
  EXPECT_EQ(storm_filters(make_plan(o, "r"), 7), (std::vector<std::string>{"bench/r/storm/7/t0", "bench/r/storm/7/t1",
                                                                            "bench/r/storm/7/t2"}));
}

TEST(Plan, LostAfterAckCountsAcknowledgedMessagesNeverReceived) {
  // Fan-in: 3 publishers -> 1 subscriber. Publisher 1's broker acknowledged 100 of which the
  // subscriber got 90: 10 lost after the acknowledgement. Publisher 2 received more than was
  // acknowledged (its last PUBACKs were still on the way): nothing lost, and no credit either.
  std::vector<uint64_t> acked{50, 100, 20};
  std::vector<StreamReceipt> streams{{0, 50}, {1, 90}, {2, 25}};
  EXPECT_EQ(lost_after_ack(acked, streams), 10u);
  // Fan-out: one publisher, three subscribers, each stream counted on its own.
  std::vector<uint64_t> one{100};
  std::vector<StreamReceipt> fan{{0, 100}, {0, 97}, {0, 100}};
  EXPECT_EQ(lost_after_ack(one, fan), 3u);
  EXPECT_EQ(lost_after_ack(one, {}), 0u);
}

TEST(ExpandTopic, ReplacesEveryIndexMarker) {
  EXPECT_EQ(expand_topic("a/%i/b/%i", 42), "a/42/b/42");
  EXPECT_EQ(expand_topic("plain", 1), "plain");
  EXPECT_EQ(expand_topic("x%", 1), "x%");
}

}  // namespace
}  // namespace mqbase::bench
