// RetainedStore: the last retained message per topic and which of them a filter selects
// ([MQTT-3.3.1-5..11], [MQTT-4.7.2-1]).
#include "broker/retained_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace mqbase::broker {
namespace {

class RetainedStoreTest : public ::testing::Test {
 protected:
  void set(const std::string& topic, const std::string& payload, uint8_t qos = 0) {
    store_.set(make_message(topic, payload, qos, true));
  }

  // Topics of the retained messages `filter` selects, sorted.
  std::vector<std::string> match(const std::string& filter) {
    std::vector<MessagePtr> out;
    store_.match(filter, out);
    std::vector<std::string> topics;
    for (const auto& m : out) topics.push_back(m->topic);
    std::sort(topics.begin(), topics.end());
    return topics;
  }

  std::string payload_of(const std::string& topic) {
    std::vector<MessagePtr> out;
    store_.match(topic, out);
    if (out.size() != 1) return "<" + std::to_string(out.size()) + " messages>";
    return out[0]->payload;
  }

  static MessagePtr expiring(const std::string& topic, const std::string& payload, Clock::time_point at) {
    auto m = std::make_shared<Message>();
    m->topic = topic;
    m->payload = payload;
    m->retain = true;
    m->expires_at = at;
    return m;
  }

  RetainedStore store_;
};

using Topics = std::vector<std::string>;

TEST_F(RetainedStoreTest, EmptyStore) {
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_TRUE(match("#").empty());
  EXPECT_TRUE(match("a").empty());
}

TEST_F(RetainedStoreTest, SetStoresTheMessageItself) {
  auto msg = make_message("a/b", "hello", 1, true);
  store_.set(msg);
  EXPECT_EQ(store_.size(), 1u);
  std::vector<MessagePtr> out;
  store_.match("a/b", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], msg) << "the shared message, not a copy";
  EXPECT_EQ(out[0]->qos, 1);
}

TEST_F(RetainedStoreTest, MatchAppendsToTheOutput) {
  set("a", "1");
  std::vector<MessagePtr> out{make_message("x", "keep", 0, true)};
  store_.match("a", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->topic, "x");
  EXPECT_EQ(out[1]->topic, "a");
}

TEST_F(RetainedStoreTest, SetReplacesTheMessageOfTheSameTopic) {
  set("a/b", "one", 0);
  set("a/b", "two", 2);
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(payload_of("a/b"), "two");
  std::vector<MessagePtr> out;
  store_.match("a/b", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->qos, 2);
}

TEST_F(RetainedStoreTest, EmptyPayloadClearsTheTopic) {
  // [MQTT-3.3.1-10/11]
  set("a/b", "one");
  set("a/c", "two");
  EXPECT_EQ(store_.size(), 2u);
  set("a/b", "");
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_TRUE(match("a/b").empty());
  EXPECT_EQ(match("a/#"), (Topics{"a/c"}));
  EXPECT_EQ(match("#"), (Topics{"a/c"}));
  // A topic cleared can be retained again.
  set("a/b", "three");
  EXPECT_EQ(payload_of("a/b"), "three");
  EXPECT_EQ(store_.size(), 2u);
}

TEST_F(RetainedStoreTest, ClearingAParentKeepsItsChildren) {
  set("a", "parent");
  set("a/b/c", "child");
  set("a", "");
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_TRUE(match("a").empty());
  EXPECT_EQ(match("a/b/c"), (Topics{"a/b/c"}));
  EXPECT_EQ(match("a/#"), (Topics{"a/b/c"}));
  set("a/b/c", "");
  EXPECT_EQ(store_.size(), 0u);
  EXPECT_TRUE(match("#").empty());
}

TEST_F(RetainedStoreTest, ClearingAChildKeepsItsParent) {
  set("a", "parent");
  set("a/b", "child");
  set("a/b", "");
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(match("#"), (Topics{"a"}));
  EXPECT_EQ(payload_of("a"), "parent");
}

TEST_F(RetainedStoreTest, ClearingATopicThatHoldsNothingIsHarmless) {
  set("a/b", "x");
  set("nothing/here", "");
  set("a/b/c", "");  // below an existing topic
  set("a", "");      // a level that exists but is not a topic itself
  set("q", "");
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(match("#"), (Topics{"a/b"}));
  EXPECT_EQ(payload_of("a/b"), "x");
}

TEST_F(RetainedStoreTest, CountFollowsSetsAndClears) {
  for (int i = 0; i < 50; ++i) set("t/" + std::to_string(i), "v");
  EXPECT_EQ(store_.size(), 50u);
  for (int i = 0; i < 50; ++i) set("t/" + std::to_string(i), "w");  // replacements
  EXPECT_EQ(store_.size(), 50u);
  for (int i = 0; i < 50; i += 2) set("t/" + std::to_string(i), "");
  EXPECT_EQ(store_.size(), 25u);
  EXPECT_EQ(match("t/+").size(), 25u);
  for (int i = 0; i < 50; i += 2) set("t/" + std::to_string(i), "");  // clear twice
  EXPECT_EQ(store_.size(), 25u);
}

TEST_F(RetainedStoreTest, ExactFilter) {
  set("a/b", "1");
  set("a/b/c", "2");
  set("a", "3");
  EXPECT_EQ(match("a/b"), (Topics{"a/b"}));
  EXPECT_EQ(match("a"), (Topics{"a"}));
  EXPECT_TRUE(match("a/c").empty());
  EXPECT_TRUE(match("b").empty());
}

TEST_F(RetainedStoreTest, PlusSelectsOneLevel) {
  set("a/b", "1");
  set("a/c", "2");
  set("a/b/c", "3");
  set("a", "4");
  set("x/b", "5");
  set("a/", "6");
  EXPECT_EQ(match("a/+"), (Topics{"a/", "a/b", "a/c"}));
  EXPECT_EQ(match("+/b"), (Topics{"a/b", "x/b"}));
  EXPECT_EQ(match("a/+/c"), (Topics{"a/b/c"}));
  EXPECT_EQ(match("+"), (Topics{"a"}));
  EXPECT_EQ(match("+/+/+"), (Topics{"a/b/c"}));
}

TEST_F(RetainedStoreTest, HashSelectsEverythingBelow) {
  set("a/b", "1");
  set("a/b/c/d", "2");
  set("b/c", "3");
  set("/lead", "4");
  EXPECT_EQ(match("#"), (Topics{"/lead", "a/b", "a/b/c/d", "b/c"}));
  EXPECT_EQ(match("a/#"), (Topics{"a/b", "a/b/c/d"}));
  EXPECT_EQ(match("a/b/c/#"), (Topics{"a/b/c/d"}));
  EXPECT_EQ(match("+/#"), (Topics{"/lead", "a/b", "a/b/c/d", "b/c"}));
  EXPECT_EQ(match("+/c/#"), (Topics{"b/c"}));
  EXPECT_TRUE(match("c/#").empty());
}

TEST_F(RetainedStoreTest, HashSelectsTheParentLevel) {
  set("a", "parent");
  set("a/b", "child");
  set("ab", "other");
  EXPECT_EQ(match("a/#"), (Topics{"a", "a/b"}));
  EXPECT_EQ(match("a/b/#"), (Topics{"a/b"}));
}

TEST_F(RetainedStoreTest, DollarTopicsAreHiddenFromLeadingWildcards) {
  // [MQTT-4.7.2-1]
  set("$SYS/broker/uptime", "1");
  set("$SYS", "2");
  set("$other/x", "3");
  set("a/$b", "4");
  EXPECT_EQ(match("#"), (Topics{"a/$b"}));
  EXPECT_TRUE(match("+").empty());
  EXPECT_TRUE(match("+/broker/uptime").empty());
  EXPECT_EQ(match("+/#"), (Topics{"a/$b"}));
  EXPECT_EQ(match("$SYS/#"), (Topics{"$SYS", "$SYS/broker/uptime"}));
  EXPECT_EQ(match("$SYS/+/uptime"), (Topics{"$SYS/broker/uptime"}));
  EXPECT_EQ(match("$other/+"), (Topics{"$other/x"}));
  EXPECT_EQ(match("a/+"), (Topics{"a/$b"}));
}

TEST_F(RetainedStoreTest, SweepRemovesExpiredMessages) {
  // Item 9: an expired retained message leaves the store (and its count), not only the
  // deliveries.
  auto now = Clock::now();
  store_.set(expiring("a/soon", "1", now + std::chrono::seconds(10)));
  store_.set(expiring("a/later", "2", now + std::chrono::seconds(20)));
  set("a/never", "3");
  EXPECT_EQ(store_.size(), 3u);
  EXPECT_EQ(store_.remove_expired(now), 0u);
  EXPECT_EQ(store_.size(), 3u);
  EXPECT_EQ(store_.remove_expired(now + std::chrono::seconds(10)), 1u) << "expiry is inclusive";
  EXPECT_EQ(store_.size(), 2u);
  EXPECT_EQ(match("a/+"), (Topics{"a/later", "a/never"}));
  EXPECT_EQ(store_.remove_expired(now + std::chrono::hours(1)), 1u);
  EXPECT_EQ(store_.size(), 1u);
  EXPECT_EQ(match("#"), (Topics{"a/never"}));
  EXPECT_EQ(store_.remove_expired(now + std::chrono::hours(2)), 0u);
}

TEST_F(RetainedStoreTest, ReplacedOrClearedMessagesDoNotExpireLater) {
  auto now = Clock::now();
  store_.set(expiring("a", "old", now + std::chrono::seconds(1)));
  set("a", "new");  // replaced by a message without expiry
  store_.set(expiring("b", "old", now + std::chrono::seconds(1)));
  store_.set(expiring("b", "newer", now + std::chrono::seconds(30)));
  store_.set(expiring("c", "x", now + std::chrono::seconds(1)));
  set("c", "");  // cleared
  EXPECT_EQ(store_.size(), 2u);
  EXPECT_EQ(store_.remove_expired(now + std::chrono::seconds(2)), 0u);
  EXPECT_EQ(payload_of("a"), "new");
  EXPECT_EQ(payload_of("b"), "newer");
  EXPECT_EQ(store_.remove_expired(now + std::chrono::seconds(30)), 1u);
  EXPECT_EQ(match("#"), (Topics{"a"}));
}

TEST_F(RetainedStoreTest, MatchRemovesWhatHasExpired) {
  store_.set(expiring("x/gone", "1", Clock::now() - std::chrono::milliseconds(1)));
  store_.set(expiring("x/deep/gone/too", "2", Clock::now() - std::chrono::milliseconds(1)));
  set("x/kept", "3");
  EXPECT_EQ(store_.size(), 3u);
  EXPECT_EQ(match("x/+"), (Topics{"x/kept"}));
  EXPECT_EQ(store_.size(), 1u) << "the lookup removed the expired messages, not only skipped them";
  EXPECT_EQ(match("#"), (Topics{"x/kept"}));
  EXPECT_EQ(store_.remove_expired(Clock::now() + std::chrono::hours(1)), 0u);
}

TEST_F(RetainedStoreTest, HundredThousandLevelsDoNotOverflowTheStack) {
  // As SubscriptionIndexTest.HundredThousandLevelsDoNotOverflowTheStack, for the retained trie:
  // storing, matching ('+' at every level, '#'), clearing and destroying run in loops.
  const std::string deep(99999, '/');
  std::string deep_plus;
  for (int i = 0; i < 50000; ++i) deep_plus += "+/";
  deep_plus += "#";
  set(deep, "deep");
  set(deep + "x", "deeper");
  EXPECT_EQ(payload_of(deep), "deep");
  EXPECT_EQ(match(deep_plus), (Topics{deep, deep + "x"}));
  EXPECT_EQ(match("#").size(), 2u);
  set(deep, "");
  EXPECT_EQ(match(deep_plus), (Topics{deep + "x"}));
  // The fixture's store is destroyed with the other message's 100000 levels still in it.
}

// Topics of everything `store` holds outside $SYS, sorted.
std::vector<std::string> all_topics(RetainedStore& store) {
  std::vector<MessagePtr> out;
  store.match("#", out);
  std::vector<std::string> topics;
  for (const auto& m : out) topics.push_back(m->topic);
  std::sort(topics.begin(), topics.end());
  return topics;
}

TEST(RetainedQuota, CountRefusesNewTopicsOnly) {
  RetainedStore store(2, 0);
  EXPECT_TRUE(store.set(make_message("a", "1", 0, true)));
  EXPECT_TRUE(store.set(make_message("b", "1", 0, true)));
  EXPECT_FALSE(store.set(make_message("c", "1", 0, true))) << "a third topic";
  EXPECT_EQ(store.refused(), 1u);
  EXPECT_EQ(all_topics(store), (Topics{"a", "b"}));
  EXPECT_TRUE(store.set(make_message("a", "2", 0, true))) << "replacing is not a new topic";
  EXPECT_TRUE(store.set(make_message("$SYS/broker/x", "1", 0, true))) << "$SYS does not count";
  EXPECT_TRUE(store.set(make_message("b", "", 0, true))) << "clearing is always allowed";
  EXPECT_TRUE(store.set(make_message("c", "1", 0, true))) << "room again after the clear";
  EXPECT_EQ(all_topics(store), (Topics{"a", "c"}));
  EXPECT_EQ(store.size(), 3u) << "size() counts $SYS too";
  EXPECT_EQ(store.refused(), 1u);
}

TEST(RetainedQuota, BytesCountTopicPayloadAndProperties) {
  RetainedStore store(0, 10);
  EXPECT_TRUE(store.set(make_message("a", "12345", 0, true)));   // 6 bytes
  EXPECT_FALSE(store.set(make_message("b", "1234", 0, true)));   // 6 + 5 > 10
  EXPECT_TRUE(store.set(make_message("b", "123", 0, true)));     // 6 + 4 = 10
  EXPECT_FALSE(store.set(make_message("a", "123456", 0, true)))  // 10 - 6 + 7 > 10
      << "a replacement that grows past the limit";
  std::vector<MessagePtr> out;
  store.match("a", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->payload, "12345") << "a refused replacement keeps what the topic had";
  EXPECT_TRUE(store.set(make_message("a", "1234", 0, true))) << "a smaller replacement fits";
  auto with_props = std::make_shared<Message>();
  with_props->topic = "c";
  with_props->payload = "x";
  with_props->retain = true;
  with_props->user_properties.emplace_back("key", "a long value");
  EXPECT_TRUE(store.set(make_message("b", "", 0, true)));
  EXPECT_FALSE(store.set(with_props)) << "properties count: 2 + 15 > 10 - 5";
  EXPECT_EQ(store.refused(), 3u);
  EXPECT_TRUE(store.set(make_message("$SYS/broker/version", std::string(100, 'v'), 0, true)));
}

TEST(RetainedQuota, ExpiredMessagesHoldNoQuota) {
  RetainedStore store(1, 0);
  auto gone = std::make_shared<Message>();
  gone->topic = "old";
  gone->payload = "x";
  gone->retain = true;
  gone->expires_at = Clock::now() - std::chrono::milliseconds(1);
  EXPECT_TRUE(store.set(gone));
  EXPECT_TRUE(store.set(make_message("new", "y", 0, true))) << "the expired one made room";
  EXPECT_EQ(all_topics(store), (Topics{"new"}));
}

TEST(RetainedQuota, ZeroMeansUnlimited) {
  RetainedStore store;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(store.set(make_message("t/" + std::to_string(i), "v", 0, true)));
  EXPECT_EQ(store.size(), 1000u);
  EXPECT_EQ(store.refused(), 0u);
}

}  // namespace
}  // namespace mqbase::broker
