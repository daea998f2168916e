// Topic names, topic filters and matching ([MQTT-4.7] in 3.1.1 and 5.0), table-driven:
// validation of filters and names, then matching, including the '$' rule ([MQTT-4.7.2-1]),
// empty levels, '#' matching its parent level and '+' matching an empty level.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/topic.h"
#include "mqtt/utf8.h"

namespace mqbase::mqtt {
namespace {

using namespace std::string_literals;

// Test names must be alphanumeric; the strings themselves go into the failure message.
struct FilterCase {
  const char* name;
  std::string filter;
  bool valid;
};

struct NameCase {
  const char* name;
  std::string topic;
  bool valid;
};

struct MatchCase {
  const char* name;
  std::string filter;
  std::string topic;
  bool matches;
};

void PrintTo(const FilterCase& c, std::ostream* os) { *os << '"' << c.filter << '"'; }
void PrintTo(const NameCase& c, std::ostream* os) { *os << '"' << c.topic << '"'; }
void PrintTo(const MatchCase& c, std::ostream* os) { *os << '"' << c.filter << "\" ~ \"" << c.topic << '"'; }

std::vector<FilterCase> filter_cases() {
  return {
      {"single_level", "a", true},
      {"three_levels", "a/b/c", true},
      {"hash_alone", "#", true},
      {"plus_alone", "+", true},
      {"plus_plus", "+/+", true},
      {"hash_last", "a/#", true},
      {"plus_middle", "a/+/c", true},
      {"plus_then_hash", "+/+/#", true},
      {"leading_slash_hash", "/#", true},
      {"leading_slash_plus", "/+", true},
      {"plus_then_empty_level", "+/", true},
      {"empty_middle_level", "a//b", true},
      {"only_slash", "/", true},
      {"only_slashes", "//", true},
      {"sys_hash", "$SYS/#", true},
      {"share_is_not_special", "$share/group/a/+", true},
      {"spec_example_sport", "sport/tennis/player1/#", true},
      {"non_ascii_levels", "\xC3\xA9/\xE2\x82\xAC", true},
      {"space_level", " ", true},
      {"dollar_inside_level", "a/$b", true},
      {"empty", "", false},
      {"hash_not_last", "a/#/b", false},
      {"hash_then_slash", "#/", false},
      {"hash_first_of_two", "#/a", false},
      {"hash_glued_after", "a#", false},
      {"hash_glued_before", "#a", false},
      {"hash_glued_in_last_level", "a/b#", false},
      {"double_hash", "##", false},
      {"hash_then_empty_last", "a/#/", false},
      {"plus_glued_after", "a+", false},
      {"plus_glued_before", "+a", false},
      {"plus_glued_in_last_level", "a/b+", false},
      {"plus_glued_middle", "a/+b/c", false},
      {"double_plus", "++", false},
      {"plus_hash_glued", "+#", false},
      {"nul", "a\0b"s, false},
      {"nul_as_level", "a/\0"s, false},
      {"invalid_utf8", "a/\xFF", false},
      {"surrogate", "a/\xED\xA0\x80", false},
  };
}

std::vector<NameCase> name_cases() {
  return {
      {"single_level", "a", true},
      {"levels", "a/b/c", true},
      {"only_slash", "/", true},
      {"leading_slash", "/a", true},
      {"trailing_slash", "a/", true},
      {"empty_middle_level", "a//b", true},
      {"sys", "$SYS/broker/uptime", true},
      {"space", " ", true},
      {"non_ascii", "\xC3\xA9t\xC3\xA9", true},
      {"empty", "", false},
      {"plus_level", "a/+", false},
      {"plus_alone", "+", false},
      {"hash_alone", "#", false},
      {"hash_level", "a/#", false},
      {"plus_inside_level", "a+b", false},
      {"hash_inside_level", "a#", false},
      {"nul", "a\0"s, false},
      {"nul_middle", "a/\0/b"s, false},
      {"invalid_byte", "\xFF", false},
      {"overlong", "\xC0\x80", false},
  };
}

std::vector<MatchCase> match_cases() {
  return {
      // '#'.
      {"hash_one_level", "#", "a", true},
      {"hash_many_levels", "#", "a/b/c", true},
      {"hash_leading_slash", "#", "/a", true},
      {"hash_only_slash", "#", "/", true},
      {"hash_parent_level", "a/#", "a", true},
      {"hash_empty_child", "a/#", "a/", true},
      {"hash_deep", "a/#", "a/b/c", true},
      {"hash_prefix_is_not_level", "a/#", "ab", false},
      {"hash_other_root", "a/#", "b/a", false},
      {"spec_sport_parent", "sport/#", "sport", true},
      {"spec_sport_tennis_parent", "sport/tennis/player1/#", "sport/tennis/player1", true},
      {"spec_sport_tennis_deep", "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"leading_slash_hash_slash", "/#", "/", true},
      {"leading_slash_hash_other", "/#", "a", false},
      // '+'.
      {"plus_one_level", "+", "a", true},
      {"plus_not_two_levels", "+", "a/b", false},
      {"plus_not_slash", "+", "/", false},
      {"plus_plus_slash", "+/+", "/", true},
      {"plus_plus_two", "+/+", "a/b", true},
      {"plus_plus_not_three", "+/+", "a/b/c", false},
      {"slash_plus_slash", "/+", "/", true},
      {"slash_plus_leading", "/+", "/a", true},
      {"plus_a_leading_slash", "+/a", "/a", true},
      {"plus_matches_empty_last", "a/+", "a/", true},
      {"plus_needs_a_level", "a/+", "a", false},
      {"plus_middle", "+/b/+", "a/b/c", true},
      {"plus_empty_middle", "a/+/b", "a//b", true},
      {"spec_tennis_plus", "sport/tennis/+", "sport/tennis/player1", true},
      {"spec_tennis_plus_too_deep", "sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"spec_sport_plus_parent", "sport/+", "sport", false},
      {"spec_sport_plus_empty", "sport/+", "sport/", true},
      {"plus_hash_parent", "a/+/#", "a/b", true},
      {"plus_hash_deep", "a/+/#", "a/b/c/d", true},
      {"plus_hash_not_grandparent", "a/+/#", "a", false},
      {"plus_hash_slash", "+/#", "/", true},
      // '$' topics ([MQTT-4.7.2-1]).
      {"sys_not_by_hash", "#", "$SYS/broker", false},
      {"sys_alone_not_by_hash", "#", "$SYS", false},
      {"sys_not_by_plus", "+", "$SYS", false},
      {"sys_not_by_plus_hash", "+/#", "$SYS/broker", false},
      {"sys_spec_plus_monitor", "+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"sys_by_sys_hash", "$SYS/#", "$SYS/monitor/Clients", true},
      {"sys_hash_parent", "$SYS/#", "$SYS", true},
      {"sys_plus", "$SYS/+", "$SYS/x", true},
      {"sys_spec_monitor_plus", "$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"sys_prefix_is_not_level", "$SYS/#", "$SYSx", false},
      {"dollar_other", "$foo", "$foo", true},
      {"dollar_not_first_char", "+/$SYS", "a/$SYS", true},
      {"dollar_second_level_by_hash", "#", "a/$SYS", true},
      // Exact levels, empty levels, case.
      {"exact", "a/b", "a/b", true},
      {"exact_empty_middle", "a//b", "a//b", true},
      {"empty_level_not_skipped", "a/b", "a//b", false},
      {"empty_level_not_invented", "a//b", "a/b", false},
      {"trailing_slash_in_topic", "a/b", "a/b/", false},
      {"trailing_slash_in_filter", "a/b/", "a/b", false},
      {"leading_slash_is_a_level", "a", "/a", false},
      {"leading_slash_exact", "/a", "/a", true},
      {"shorter_filter", "a", "a/b", false},
      {"longer_filter", "a/b/c", "a/b", false},
      {"case_sensitive", "a/b", "A/b", false},
      {"space_is_significant", "a/ b", "a/b", false},
  };
}

class TopicFilter : public ::testing::TestWithParam<FilterCase> {};
TEST_P(TopicFilter, Validates) {
  const auto& c = GetParam();
  EXPECT_EQ(valid_topic_filter(c.filter), c.valid) << "filter \"" << c.filter << "\"";
}
INSTANTIATE_TEST_SUITE_P(Table, TopicFilter, ::testing::ValuesIn(filter_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

class TopicName : public ::testing::TestWithParam<NameCase> {};
TEST_P(TopicName, Validates) {
  const auto& c = GetParam();
  EXPECT_EQ(valid_topic_name(c.topic), c.valid) << "topic \"" << c.topic << "\"";
}
INSTANTIATE_TEST_SUITE_P(Table, TopicName, ::testing::ValuesIn(name_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// A wildcard, a NUL or a broken UTF-8 sequence at any position of a longer topic (the table's
// topics are short: a word-at-a-time scan would pass them all) is found as in the table.
TEST(TopicNameWords, EveryPositionOfALongTopic) {
  const std::string base = "abcdefgh/ijklmno/pqrstuv/";  // 25 bytes
  ASSERT_TRUE(valid_topic_name(base));
  for (size_t pos = 0; pos < base.size(); ++pos) {
    for (char bad : {'+', '#', '\0'}) {
      std::string t = base;
      t[pos] = bad;
      EXPECT_FALSE(valid_topic_name(t)) << "byte " << int(bad) << " at " << pos;
    }
    std::string accented = base;
    accented.replace(pos, 1, "\xC3\xA9");  // é: valid UTF-8
    EXPECT_TRUE(valid_topic_name(accented)) << "é at " << pos;
    accented.back() = '+';  // a wildcard after the non-ASCII word
    EXPECT_FALSE(valid_topic_name(accented)) << "é at " << pos << " then '+'";
    std::string broken = base;
    broken[pos] = '\xC3';  // a lead byte without its continuation
    if (pos + 1 < base.size()) {
      EXPECT_FALSE(valid_topic_name(broken)) << "lone lead byte at " << pos;
    }
  }
}

// And agrees with the plain definition (no wildcard, valid UTF-8) on random strings.
TEST(TopicNameWords, AgreesWithTheDefinitionOnRandomStrings) {
  std::minstd_rand rng(42);
  const char alphabet[] = {'a', 'b', '/', '+', '#', '\0', '\x7F', '\xC3', '\xA9', '\xE2', '\x82', '\xAC', '\xFF'};
  for (int n = 0; n < 20000; ++n) {
    std::string t(1 + rng() % 40, 'a');
    for (auto& c : t)
      if (rng() % 4 == 0) c = alphabet[rng() % sizeof alphabet];
    EXPECT_EQ(valid_topic_name(t), !has_wildcard(t) && valid_utf8(t)) << "topic of " << t.size() << " bytes";
  }
}

class TopicMatch : public ::testing::TestWithParam<MatchCase> {};
TEST_P(TopicMatch, Matches) {
  const auto& c = GetParam();
  // The table must only hold inputs the function is defined for.
  ASSERT_TRUE(valid_topic_filter(c.filter)) << c.filter;
  ASSERT_TRUE(valid_topic_name(c.topic)) << c.topic;
  EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches)
      << "filter \"" << c.filter << "\" topic \"" << c.topic << "\"";
}
INSTANTIATE_TEST_SUITE_P(Table, TopicMatch, ::testing::ValuesIn(match_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TopicMatchProperties, FilterWithoutWildcardsMatchesOnlyItself) {
  std::vector<std::string> names;
  for (const auto& c : name_cases())
    if (c.valid) names.push_back(c.topic);
  for (const auto& c : match_cases()) names.push_back(c.topic);
  for (const auto& f : names) {
    for (const auto& t : names) {
      EXPECT_EQ(topic_matches(f, t), f == t) << "filter \"" << f << "\" topic \"" << t << "\"";
    }
  }
}

TEST(TopicMatchProperties, HashMatchesEveryTopicNotStartingWithDollar) {
  for (const auto& c : match_cases()) {
    bool dollar = c.topic[0] == '$';
    EXPECT_EQ(topic_matches("#", c.topic), !dollar) << c.topic;
  }
}

// topic_matches walks both strings in one pass. Against the rule as the spec states it, level
// by level ([MQTT-4.7]), for every valid filter and every topic name of up to 5 characters over
// {a, b, /, +, #, $} (names without the wildcards).
TEST(TopicMatchProperties, AgreesWithTheLevelByLevelRuleOnEveryShortString) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> out;
    for_each_level(s, [&](std::string_view level) { out.push_back(level); });
    return out;
  };
  auto reference = [&](std::string_view filter, std::string_view topic) {
    if (topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
    std::vector<std::string_view> f = split(filter), t = split(topic);
    for (size_t i = 0; i < f.size(); ++i) {
      if (f[i] == "#") return true;  // also the parent: "a/#" matches "a"
      if (i == t.size()) return false;
      if (f[i] != "+" && f[i] != t[i]) return false;
    }
    return f.size() == t.size();
  };
  std::vector<std::string> all = {""};
  for (size_t len = 1, from = 0; len <= 5; ++len) {
    size_t to = all.size();
    for (size_t k = from; k < to; ++k)
      for (char c : std::string_view("ab/+#$")) all.push_back(all[k] + c);
    from = to;
  }
  size_t pairs = 0;
  for (const std::string& f : all) {
    if (!valid_topic_filter(f)) continue;
    for (const std::string& t : all) {
      if (t.empty() || t.find_first_of("+#") != std::string::npos) continue;
      ++pairs;
      ASSERT_EQ(topic_matches(f, t), reference(f, t)) << "filter \"" << f << "\" topic \"" << t << "\"";
    }
  }
  EXPECT_GT(pairs, 100000u);
}

TEST(TopicLevels, ForEachLevelKeepsEmptyLevels) {
  auto levels = [](std::string_view s) {
    std::vector<std::string> out;
    for_each_level(s, [&](std::string_view level) { out.emplace_back(level); });
    return out;
  };
  EXPECT_EQ(levels("a/b/c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(levels("a//b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(levels("/"), (std::vector<std::string>{"", ""}));
  EXPECT_EQ(levels("/a"), (std::vector<std::string>{"", "a"}));
  EXPECT_EQ(levels("a/"), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(levels("a"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(levels(""), (std::vector<std::string>{""}));
}

TEST(SysTopic, OnlyTheFirstLevelSysIsTheBrokersTree) {
  EXPECT_TRUE(is_sys_topic("$SYS"));
  EXPECT_TRUE(is_sys_topic("$SYS/"));
  EXPECT_TRUE(is_sys_topic("$SYS/broker/version"));
  EXPECT_FALSE(is_sys_topic("$SYSTEM/x"));
  EXPECT_FALSE(is_sys_topic("$sys/broker"));
  EXPECT_FALSE(is_sys_topic("a/$SYS/x"));
  EXPECT_FALSE(is_sys_topic("/$SYS"));
  EXPECT_FALSE(is_sys_topic("$SY"));
  EXPECT_FALSE(is_sys_topic(""));
}

TEST(TopicLevels, ExceedsLevelsCountsSlashes) {
  EXPECT_FALSE(exceeds_levels("a/b/c", 3));
  EXPECT_TRUE(exceeds_levels("a/b/c/", 3)) << "a trailing slash adds an empty level";
  EXPECT_TRUE(exceeds_levels("///", 3));
  EXPECT_FALSE(exceeds_levels("//", 3));
  EXPECT_FALSE(exceeds_levels("abcdefgh", 1)) << "one level, however long";
  EXPECT_TRUE(exceeds_levels("a/b", 1));
  EXPECT_FALSE(exceeds_levels(std::string(70000, '/'), 0)) << "0: no limit";
  std::string at_limit(199, '/');  // 200 empty levels
  EXPECT_FALSE(exceeds_levels(at_limit, 200));
  EXPECT_TRUE(exceeds_levels(at_limit + "/", 200));
  EXPECT_FALSE(exceeds_levels(std::string(199, 'x'), 200)) << "shorter than the limit: not read";
}

}  // namespace
}  // namespace mqbase::mqtt
