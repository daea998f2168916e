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
  static std::map<std::string, uint8_t> by_id(const std::vector<MatchedSubscriber>& out, const std::string& topic) {
    std::map<std::string, uint8_t> ids;
    for (const auto& m : out) {
      EXPECT_TRUE(ids.emplace(m.session->client_id(), m.qos).second)
          << m.session->client_id() << " matched twice for " << topic;
    }
    return ids;
  }

  // What match_cached_locked() returns for `topic` from `origin` (a copy, taken under the lock).
  std::vector<MatchedSubscriber> cached(const std::string& topic, const Session* origin = nullptr) {
    auto lock = index_.read_lock();
    return index_.match_cached_locked(topic, origin);
  }

  // The sessions `topic` reaches. Every test's matches also go through the route cache, twice
  // (a miss, then a hit), and must come out the same as the plain match.
  std::map<std::string, uint8_t> match(const std::string& topic) {
    std::vector<MatchedSubscriber> out;
    index_.match(topic, out);
    auto plain = by_id(out, topic);
    EXPECT_EQ(by_id(cached(topic), topic), plain) << "route cache, first lookup of " << topic;
    EXPECT_EQ(by_id(cached(topic), topic), plain) << "route cache, second lookup of " << topic;
    return plain;
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

// The route cache keeps a topic's result only while the index is unchanged: a new
// subscriber, new options and a removal each show at the next publish of the same topic.
TEST_F(SubscriptionIndexTest, RouteCacheSeesEveryChangeOfTheIndex) {
  auto a = make_session("a");
  auto b = make_session("b");
  index_.add(a, "t/+", {0});
  EXPECT_EQ(by_id(cached("t/x"), "t/x"), (std::map<std::string, uint8_t>{{"a", 0}}));
  index_.add(b, "t/#", {1});
  EXPECT_EQ(by_id(cached("t/x"), "t/x"), (std::map<std::string, uint8_t>{{"a", 0}, {"b", 1}}));
  index_.add(a, "t/+", {2});  // new options for an existing subscription
  EXPECT_EQ(by_id(cached("t/x"), "t/x"), (std::map<std::string, uint8_t>{{"a", 2}, {"b", 1}}));
  index_.remove(a.get(), "t/+");
  EXPECT_EQ(by_id(cached("t/x"), "t/x"), (std::map<std::string, uint8_t>{{"b", 1}}));
  index_.remove(b.get(), "t/#");
  EXPECT_TRUE(cached("t/x").empty());
}

// With No Local the result depends on who publishes: the same topic from two publishers in a
// row must not share a cached answer.
TEST_F(SubscriptionIndexTest, RouteCacheDoesNotKeepResultsThatDependOnThePublisher) {
  auto a = make_session("a");
  auto b = make_session("b");
  SubscriptionOptions no_local{0};
  no_local.no_local = true;
  index_.add(a, "chat", no_local);
  index_.add(b, "chat", no_local);
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(by_id(cached("chat", a.get()), "chat"), (std::map<std::string, uint8_t>{{"b", 0}}));
    EXPECT_EQ(by_id(cached("chat", b.get()), "chat"), (std::map<std::string, uint8_t>{{"a", 0}}));
    EXPECT_EQ(by_id(cached("chat", nullptr), "chat"), (std::map<std::string, uint8_t>{{"a", 0}, {"b", 0}}));
  }
}

// A shared group picks its member per message (round robin here): cached lookups still
// alternate between the members.
TEST_F(SubscriptionIndexTest, RouteCacheLeavesSharedGroupsToPickPerMessage) {
  auto a = make_session("a");
  auto b = make_session("b");
  index_.add(a, "$share/g/jobs", {0});
  index_.add(b, "$share/g/jobs", {0});
  std::map<std::string, int> got;
  for (int i = 0; i < 4; ++i) {
    auto out = cached("jobs");
    ASSERT_EQ(out.size(), 1u);
    ++got[out[0].session->client_id()];
  }
  EXPECT_EQ(got, (std::map<std::string, int>{{"a", 2}, {"b", 2}}));
}

// Long topics and long subscriber lists are answered by the walk, not kept: still right.
TEST_F(SubscriptionIndexTest, RouteCacheAnswersLongTopicsAndListsCorrectly) {
  std::vector<std::shared_ptr<Session>> many;
  std::map<std::string, uint8_t> want;
  for (int i = 0; i < 100; ++i) {
    many.push_back(make_session("m" + std::to_string(i)));
    index_.add(many.back(), "wide/#", {0});
    want["m" + std::to_string(i)] = 0;
  }
  EXPECT_EQ(match("wide/x"), want);
  std::string long_topic = "wide/" + std::string(1000, 'y');
  EXPECT_EQ(match(long_topic), want);
  index_.remove(many[0].get(), "wide/#");
  want.erase("m0");
  EXPECT_EQ(match("wide/x"), want);
  EXPECT_EQ(match(long_topic), want);
}

// A storm of clients subscribing to and leaving filters of their own does not throw away the
// cached results of topics those filters do not match; a change whose filter matches the
// topic (exact, "+", "#", a shared group's) does.
TEST_F(SubscriptionIndexTest, RouteCacheKeepsResultsThatNoChangeMatches) {
  auto sub = make_session("sub");
  index_.add(sub, "plant/+/temp", {1});
  const Qos want{{"sub", 1}};
  EXPECT_EQ(match("plant/a/temp"), want);
  auto walks = [] { return SubscriptionIndex::thread_cache_walks(); };
  uint64_t before = walks();
  std::vector<std::shared_ptr<Session>> storm;
  for (int i = 0; i < 5; ++i) {
    storm.push_back(make_session("storm" + std::to_string(i)));
    std::string own = "dev/" + std::to_string(i);
    index_.add_all(storm.back(), {{own + "/cmd", {1}}, {own + "/+/x", {0}}, {own + "/#", {0}}, {"plant/b/#", {0}}});
    EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), want);
    index_.remove_all(storm.back().get(), {own + "/cmd", own + "/+/x", own + "/#", "plant/b/#"});
    EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), want);
  }
  EXPECT_EQ(walks(), before) << "40 changes that cannot match plant/a/temp made the cache walk again";

  // Changes that match: each one is seen at once.
  auto other = make_session("other");
  for (std::string filter : {"plant/a/temp", "plant/+/+", "plant/#", "#", "+/a/temp"}) {
    index_.add(other, filter, {2});
    EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), (Qos{{"other", 2}, {"sub", 1}})) << filter;
    index_.add(other, filter, {0});  // new options
    EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), (Qos{{"other", 0}, {"sub", 1}})) << filter;
    index_.remove(other.get(), filter);
    EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), want) << filter;
  }
  index_.add(other, "$share/g/plant/a/+", {1});
  EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), (Qos{{"other", 1}, {"sub", 1}}));
  index_.remove(other.get(), "$share/g/plant/a/+");
  EXPECT_EQ(by_id(cached("plant/a/temp"), "plant/a/temp"), want);

  // More unrelated changes than the index remembers, then a matching one: still right.
  before = walks();
  for (int i = 0; i < 100; ++i) {
    index_.add(other, "noise/" + std::to_string(i), {0});
    if (i == 99) index_.add(other, "plant/a/temp", {0});
  }
  EXPECT_EQ(match("plant/a/temp"), (Qos{{"other", 0}, {"sub", 1}}));
  EXPECT_GT(walks(), before);

  // $ topics: "#" does not reach them, and a change of it never hides a subscription that does.
  auto sys = make_session("sys");
  index_.add(sys, "$SYS/broker/#", {0});
  EXPECT_EQ(match("$SYS/broker/load"), (Qos{{"sys", 0}}));
  index_.add(other, "#", {0});
  EXPECT_EQ(match("$SYS/broker/load"), (Qos{{"sys", 0}}));
  index_.add(other, "$SYS/+/load", {1});
  EXPECT_EQ(match("$SYS/broker/load"), (Qos{{"other", 1}, {"sys", 0}}));
}

// Two indexes (two brokers in one process, as in these tests) never answer from each
// other's cache, even for the same topic from the same thread.
TEST_F(SubscriptionIndexTest, RouteCacheIsPerIndex) {
  SubscriptionIndex other;
  auto a = make_session("a");
  auto b = make_session("b");
  index_.add(a, "same/topic", {0});
  other.add(b, "same/topic", {1});
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(by_id(cached("same/topic"), "t"), (std::map<std::string, uint8_t>{{"a", 0}}));
    auto lock = other.read_lock();
    EXPECT_EQ(by_id(other.match_cached_locked("same/topic", nullptr), "t"), (std::map<std::string, uint8_t>{{"b", 1}}));
  }
}

TEST_F(SubscriptionIndexTest, HundredThousandLevelsDoNotOverflowTheStack) {
  // Deep filters and topics ("/" * 99999: 100000 empty levels) must never recurse once per
  // level: matching, adding, removing and destroying the trie all run in loops. Under ASan
  // (larger frames) the old recursive match overflowed the stack.
  const std::string deep(99999, '/');
  std::string deep_plus;
  for (int i = 0; i < 50000; ++i) deep_plus += "+/";
  deep_plus += "#";
  auto exact = make_session("exact");
  auto wild = make_session("wild");
  auto hash = make_session("hash");
  EXPECT_TRUE(index_.add(exact, deep, {1}));
  EXPECT_TRUE(index_.add(wild, deep_plus, {2}));
  EXPECT_TRUE(index_.add(hash, "#", {0}));
  EXPECT_EQ(match(deep), (std::map<std::string, uint8_t>{{"exact", 1}, {"wild", 2}, {"hash", 0}}));
  EXPECT_EQ(match(std::string(49998, '/')), (std::map<std::string, uint8_t>{{"hash", 0}}))
      << "49999 levels: fewer than the 50000 the '+' filter needs (\"#\" may match the parent)";
  EXPECT_TRUE(index_.remove(exact.get(), deep));
  EXPECT_EQ(match(deep), (std::map<std::string, uint8_t>{{"wild", 2}, {"hash", 0}}));
  // `wild` stays: the index's destructor takes its 50001 levels down.
}

}  // namespace
}  // namespace mqbase::broker
