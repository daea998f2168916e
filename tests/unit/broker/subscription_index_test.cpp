// SubscriptionIndex: which sessions a topic reaches, at which QoS ([MQTT-4.7], [MQTT-3.3.5-1]).
#include "broker/subscription_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker/limits.h"
#include "broker/session.h"
#include "broker/stats.h"

namespace mqbase::broker {
namespace {

class SubscriptionIndexTest : public ::testing::Test {
 protected:
  std::shared_ptr<Session> make_session(const std::string& id) {
    return std::make_shared<Session>(id, true, limits_, stats_);
  }

  // client id -> QoS of every session `topic` reaches; fails on a session listed twice.
  std::map<std::string, uint8_t> match(const std::string& topic) {
    std::vector<MatchedSubscriber> out;
    index_.match(topic, out);
    std::map<std::string, uint8_t> by_id;
    for (const auto& m : out) {
      EXPECT_TRUE(by_id.emplace(m.session->client_id(), m.qos).second)
          << m.session->client_id() << " matched twice for " << topic;
    }
    return by_id;
  }

  bool matches(const std::string& filter, const std::string& topic) {
    auto s = make_session("probe");
    index_.add(s, filter, {0});
    bool hit = match(topic).count("probe") == 1;
    index_.remove(s.get(), filter);
    return hit;
  }

  Limits limits_;
  Stats stats_;
  SubscriptionIndex index_;
};

using Qos = std::map<std::string, uint8_t>;

TEST_F(SubscriptionIndexTest, EmptyIndexMatchesNothing) {
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_TRUE(match("a/b").empty());
}

TEST_F(SubscriptionIndexTest, ExactFilterMatchesOnlyItsTopic) {
  auto s = make_session("s");
  EXPECT_TRUE(index_.add(s, "a/b", {1}));
  EXPECT_EQ(match("a/b"), (Qos{{"s", 1}}));
  EXPECT_TRUE(match("a").empty());
  EXPECT_TRUE(match("a/b/c").empty());
  EXPECT_TRUE(match("a/c").empty());
  EXPECT_TRUE(match("A/b").empty()) << "topics are case sensitive";
  EXPECT_TRUE(match("a/b/").empty());
}

TEST_F(SubscriptionIndexTest, PlusMatchesExactlyOneLevel) {
  EXPECT_TRUE(matches("a/+", "a/b"));
  EXPECT_TRUE(matches("a/+", "a/"));  // an empty level is a level
  EXPECT_FALSE(matches("a/+", "a"));
  EXPECT_FALSE(matches("a/+", "a/b/c"));
  EXPECT_TRUE(matches("+/+", "/finance"));
  EXPECT_TRUE(matches("/+", "/finance"));
  EXPECT_FALSE(matches("+", "/finance"));
  EXPECT_TRUE(matches("a/+/c", "a/x/c"));
  EXPECT_FALSE(matches("a/+/c", "a/x/d"));
  EXPECT_TRUE(matches("+", "a"));
  EXPECT_TRUE(matches("+/b/+", "a/b/c"));
}

TEST_F(SubscriptionIndexTest, HashMatchesEveryLevelBelow) {
  EXPECT_TRUE(matches("#", "a"));
  EXPECT_TRUE(matches("#", "a/b/c"));
  EXPECT_TRUE(matches("#", "/a"));
  EXPECT_TRUE(matches("a/#", "a/b"));
  EXPECT_TRUE(matches("a/#", "a/b/c/d"));
  EXPECT_FALSE(matches("a/#", "b/a"));
  EXPECT_FALSE(matches("a/#", "ab"));
  EXPECT_TRUE(matches("a/+/#", "a/b/c"));
  EXPECT_TRUE(matches("+/#", "x/y/z"));
}

TEST_F(SubscriptionIndexTest, HashMatchesTheParentLevel) {
  // [MQTT-4.7.1-2]: "sport/tennis/player1/#" matches "sport/tennis/player1".
  EXPECT_TRUE(matches("sport/tennis/player1/#", "sport/tennis/player1"));
  EXPECT_TRUE(matches("a/#", "a"));
  EXPECT_TRUE(matches("a/b/#", "a/b"));
  EXPECT_TRUE(matches("+/#", "a"));
  EXPECT_FALSE(matches("a/b/#", "a"));
}

TEST_F(SubscriptionIndexTest, DollarTopicsAreNotMatchedByLeadingWildcards) {
  // [MQTT-4.7.2-1]
  EXPECT_FALSE(matches("#", "$SYS/broker/uptime"));
  EXPECT_FALSE(matches("+/broker/uptime", "$SYS/broker/uptime"));
  EXPECT_FALSE(matches("+/#", "$SYS/broker"));
  EXPECT_FALSE(matches("+", "$SYS"));
  EXPECT_FALSE(matches("#", "$SYS"));
  EXPECT_TRUE(matches("$SYS/#", "$SYS/broker/uptime"));
  EXPECT_TRUE(matches("$SYS/#", "$SYS"));
  EXPECT_TRUE(matches("$SYS/+/uptime", "$SYS/broker/uptime"));
  EXPECT_TRUE(matches("$SYS/broker/uptime", "$SYS/broker/uptime"));
  // Only the first level is special.
  EXPECT_TRUE(matches("a/+", "a/$b"));
  EXPECT_TRUE(matches("a/#", "a/$b/c"));
}

TEST_F(SubscriptionIndexTest, OverlappingFiltersOfOneSessionGiveOneEntryAtTheHighestQos) {
  auto s = make_session("s");
  index_.add(s, "a/+", {1});
  index_.add(s, "a/#", {2});
  index_.add(s, "a/b", {0});
  std::vector<MatchedSubscriber> out;
  index_.match("a/b", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].session, s.get());
  EXPECT_EQ(out[0].qos, 2);
  // Only a/+ and a/# match a/c; only a/# matches a/c/d.
  EXPECT_EQ(match("a/c"), (Qos{{"s", 2}}));
  index_.remove(s.get(), "a/#");
  EXPECT_EQ(match("a/b"), (Qos{{"s", 1}}));
  EXPECT_TRUE(match("a/c/d").empty());
}

TEST_F(SubscriptionIndexTest, HighestQosWinsWhateverTheOrderOfMatching) {
  auto s = make_session("s");
  index_.add(s, "#", {0});
  index_.add(s, "x/y", {2});
  index_.add(s, "+/y", {1});
  EXPECT_EQ(match("x/y"), (Qos{{"s", 2}}));
}

TEST_F(SubscriptionIndexTest, MatchClearsTheOutputFirst) {
  auto s = make_session("s");
  index_.add(s, "a", {0});
  std::vector<MatchedSubscriber> out(1);
  auto stale = make_session("stale");
  out[0].session = stale.get();
  index_.match("a", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].session, s.get());
  index_.match("nothing", out);
  EXPECT_TRUE(out.empty());
}

TEST_F(SubscriptionIndexTest, TwoSessionsAreBothReturned) {
  auto s1 = make_session("s1");
  auto s2 = make_session("s2");
  index_.add(s1, "a/b", {1});
  index_.add(s2, "a/+", {0});
  index_.add(s2, "a/#", {2});
  EXPECT_EQ(match("a/b"), (Qos{{"s1", 1}, {"s2", 2}}));
  EXPECT_EQ(match("a/x"), (Qos{{"s2", 2}}));
}

TEST_F(SubscriptionIndexTest, ReplacingASubscriptionUpdatesItsQos) {
  // [MQTT-3.8.4-3]: a second SUBSCRIBE to the same filter replaces the first.
  auto s = make_session("s");
  EXPECT_TRUE(index_.add(s, "a/b", {0}));
  EXPECT_FALSE(index_.add(s, "a/b", {2}));
  EXPECT_EQ(index_.size(), 1u);
  EXPECT_EQ(match("a/b"), (Qos{{"s", 2}}));
  EXPECT_FALSE(index_.add(s, "a/b", {1}));
  EXPECT_EQ(match("a/b"), (Qos{{"s", 1}}));
  // The same filter for another session is a new subscription.
  EXPECT_TRUE(index_.add(make_session("t"), "a/b", {0}));
  EXPECT_EQ(index_.size(), 2u);
}

TEST_F(SubscriptionIndexTest, RemoveReturnsFalseForUnknownSubscriptions) {
  auto s = make_session("s");
  auto other = make_session("other");
  EXPECT_FALSE(index_.remove(s.get(), "a/b"));
  index_.add(s, "a/b", {0});
  EXPECT_FALSE(index_.remove(s.get(), "a"));        // a prefix of the filter
  EXPECT_FALSE(index_.remove(s.get(), "a/b/c"));    // longer than the filter
  EXPECT_FALSE(index_.remove(s.get(), "a/+"));      // matches, but is not the filter
  EXPECT_FALSE(index_.remove(other.get(), "a/b"));  // another session's
  EXPECT_EQ(index_.size(), 1u);
  EXPECT_TRUE(index_.remove(s.get(), "a/b"));
  EXPECT_FALSE(index_.remove(s.get(), "a/b"));  // already gone
}

TEST_F(SubscriptionIndexTest, RemovalPrunesAndLeavesOthersIntact) {
  auto s = make_session("s");
  auto t = make_session("t");
  index_.add(s, "a/b/c", {0});
  index_.add(s, "a/b", {1});
  index_.add(t, "a/b/c", {2});
  index_.add(s, "a/#", {0});
  EXPECT_EQ(index_.size(), 4u);
  EXPECT_TRUE(index_.remove(s.get(), "a/b/c"));
  EXPECT_EQ(match("a/b/c"), (Qos{{"s", 0}, {"t", 2}}));  // s still via a/#
  EXPECT_TRUE(index_.remove(s.get(), "a/#"));
  EXPECT_EQ(match("a/b/c"), (Qos{{"t", 2}}));
  EXPECT_EQ(match("a/b"), (Qos{{"s", 1}}));
  EXPECT_TRUE(index_.remove(t.get(), "a/b/c"));
  EXPECT_TRUE(index_.remove(s.get(), "a/b"));
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_TRUE(match("a/b").empty());
  EXPECT_TRUE(match("a/b/c").empty());
  // The pruned branch can be built again.
  EXPECT_TRUE(index_.add(s, "a/b/c", {1}));
  EXPECT_EQ(match("a/b/c"), (Qos{{"s", 1}}));
}

TEST_F(SubscriptionIndexTest, IndexDropsItsSessionReferencesOnRemove) {
  auto s = make_session("s");
  std::weak_ptr<Session> weak = s;
  index_.add(s, "a/+", {0});
  index_.remove(s.get(), "a/+");
  s.reset();
  EXPECT_TRUE(weak.expired());
}

TEST_F(SubscriptionIndexTest, ManySessionsAndFilters) {
  constexpr int kSessions = 200;
  std::vector<std::shared_ptr<Session>> sessions;
  for (int i = 0; i < kSessions; ++i) {
    auto s = make_session("c" + std::to_string(i));
    sessions.push_back(s);
    // Each session: its own device topic, a wildcard on its group, and everything under "all".
    EXPECT_TRUE(index_.add(s, "dev/" + std::to_string(i) + "/temp", {1}));
    EXPECT_TRUE(index_.add(s, "group/" + std::to_string(i % 10) + "/+", {0}));
    EXPECT_TRUE(index_.add(s, "all/#", {static_cast<uint8_t>(i % 3)}));
  }
  EXPECT_EQ(index_.size(), 3u * kSessions);

  EXPECT_EQ(match("dev/42/temp"), (Qos{{"c42", 1}}));
  EXPECT_TRUE(match("dev/42/humidity").empty());
  auto group = match("group/7/x");
  EXPECT_EQ(group.size(), static_cast<size_t>(kSessions / 10));
  for (const auto& [id, qos] : group) EXPECT_EQ(std::stoi(id.substr(1)) % 10, 7) << id;
  auto all = match("all/x/y");
  ASSERT_EQ(all.size(), static_cast<size_t>(kSessions));
  for (const auto& [id, qos] : all) EXPECT_EQ(qos, std::stoi(id.substr(1)) % 3) << id;

  for (int i = 0; i < kSessions; i += 2) {
    EXPECT_TRUE(index_.remove(sessions[i].get(), "all/#"));
  }
  EXPECT_EQ(match("all/x").size(), static_cast<size_t>(kSessions / 2));
  for (int i = 0; i < kSessions; ++i) {
    EXPECT_TRUE(index_.remove(sessions[i].get(), "dev/" + std::to_string(i) + "/temp"));
    EXPECT_TRUE(index_.remove(sessions[i].get(), "group/" + std::to_string(i % 10) + "/+"));
    if (i % 2 == 1) {
      EXPECT_TRUE(index_.remove(sessions[i].get(), "all/#"));
    }
  }
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_TRUE(match("all/x").empty());
}

TEST_F(SubscriptionIndexTest, ConcurrentSubscribersAndPublishers) {
  // The index is shared by every event loop: subscribe/unsubscribe on some threads while
  // others match. Under the sanitizers a missing lock shows up as a crash or a report.
  auto stable = make_session("stable");
  index_.add(stable, "load/#", {1});
  constexpr int kRounds = 2000;
  std::atomic<bool> wrong{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      auto s = make_session("writer" + std::to_string(w));
      for (int i = 0; i < kRounds; ++i) {
        std::string filter = "load/" + std::to_string(i % 17) + "/+";
        index_.add(s, filter, {0});
        index_.remove(s.get(), filter);
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      std::vector<MatchedSubscriber> out;
      for (int i = 0; i < kRounds; ++i) {
        index_.match("load/" + std::to_string(i % 17) + "/x", out);
        bool has_stable = std::any_of(out.begin(), out.end(), [&](const auto& m) { return m.session == stable.get(); });
        if (!has_stable || out.size() > 3) wrong = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(wrong) << "a match missed the stable subscriber or saw too many";
  EXPECT_EQ(index_.size(), 1u);
}

}  // namespace
}  // namespace mqbase::broker
