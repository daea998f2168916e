// TopicRuleIndex against the reference matcher (mqtt::topic_matches, one rule at a time): the
// same verdict for every (filter set, topic) pair, including "$" topics, "#" matching its
// parent level, empty levels, and deep topics.
#include "auth/topic_rule_index.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "mqtt/topic.h"

namespace mqbase::auth {
namespace {

struct Rule {
  std::string filter;
  uint8_t access;
};

TopicRuleIndex::Match reference(const std::vector<Rule>& rules, std::string_view topic) {
  TopicRuleIndex::Match m;
  for (const auto& r : rules)
    if (mqtt::topic_matches(r.filter, topic)) {
      if (r.access == 0) m.deny = true;
      m.granted |= r.access;
    }
  return m;
}

TopicRuleIndex build(const std::vector<Rule>& rules) {
  TopicRuleIndex index;
  for (const auto& r : rules) index.add(r.filter, r.access);
  return index;
}

void expect_same(const std::vector<Rule>& rules, const TopicRuleIndex& index, std::string_view topic) {
  auto want = reference(rules, topic);
  auto got = index.match(topic);
  EXPECT_EQ(got.deny, want.deny) << topic;
  EXPECT_EQ(got.granted, want.granted) << topic;
}

TEST(TopicRuleIndex, WildcardsAsMqttMatchesThem) {
  std::vector<Rule> rules = {{"a/b", 1},   {"a/+", 2},     {"a/#", 1}, {"+/b/c", 2}, {"#", 1},
                             {"x/+/z", 0}, {"$SYS/#", 1}, {"/lead", 2}, {"t//e", 1}, {"q/+/+", 2}};
  auto index = build(rules);
  for (std::string_view topic : {"a", "a/b", "a/c", "a/b/c", "x/y/z", "x/y", "$SYS/broker/uptime", "$SYS",
                                 "/lead", "t//e", "t/e", "q/1/2", "q/1", "q/1/2/3", "", "b/b/c"})
    expect_same(rules, index, topic);
}

TEST(TopicRuleIndex, HashMatchesTheParentLevelButNotDollarTopics) {
  auto index = build({{"sport/#", 1}, {"#", 2}});
  EXPECT_EQ(index.match("sport").granted, 3);
  EXPECT_EQ(index.match("$SYS/x").granted, 0);
  EXPECT_EQ(index.match("sport/tennis/player1").granted, 3);
}

TEST(TopicRuleIndex, DenyIsReportedBesideGrants) {
  auto index = build({{"plant/#", 3}, {"plant/secret/#", 0}});
  auto m = index.match("plant/secret/key");
  EXPECT_TRUE(m.deny);
  EXPECT_EQ(m.granted, 3);
  EXPECT_FALSE(index.match("plant/open").deny);
}

TEST(TopicRuleIndex, RandomRuleSetsAgreeWithTheReference) {
  std::mt19937 rng(42);
  const std::vector<std::string> words = {"a", "b", "c", "", "$x"};
  auto level = [&] { return words[rng() % words.size()]; };
  for (int round = 0; round < 200; ++round) {
    std::vector<Rule> rules;
    int n = 1 + rng() % 12;
    for (int i = 0; i < n; ++i) {
      std::string f;
      int depth = 1 + rng() % 4;
      for (int d = 0; d < depth; ++d) {
        if (d) f += '/';
        int kind = rng() % 6;
        if (kind == 0) {
          f += '+';
        } else if (kind == 1 && d == depth - 1) {
          f += '#';
        } else {
          std::string w = level();
          if (d > 0 && !w.empty() && w[0] == '$') w = "d";
          f += w;
        }
      }
      rules.push_back({f, static_cast<uint8_t>(rng() % 4)});
    }
    auto index = build(rules);
    for (int t = 0; t < 30; ++t) {
      std::string topic;
      int depth = 1 + rng() % 5;
      for (int d = 0; d < depth; ++d) {
        if (d) topic += '/';
        topic += level();
      }
      expect_same(rules, index, topic);
    }
  }
}

TEST(TopicRuleIndex, DeepTopicsUseNoRecursion) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += i ? "/a" : "a";
  auto index = build({{"a/#", 1}, {"+/+/+", 2}});
  EXPECT_EQ(index.match(deep).granted, 1);
}

}  // namespace
}  // namespace mqbase::auth
