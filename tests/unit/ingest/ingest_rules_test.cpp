// Ingest rules: filters with named levels, JSON paths, plain numbers, every numeric field,
// archive rows, and the errors a bad rule or payload gets.
#include "ingest/ingest_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <stdexcept>

namespace mqbase::ingest {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> row_of(const ParsedRows& pr) {
  std::map<std::string, std::string> out;
  for (size_t c = 0; c < pr.width; ++c) {
    const Cell& cell = pr.at(0, c);
    std::string v;
    switch (cell.kind) {
      case Cell::Kind::null: v = "null"; break;
      case Cell::Kind::integer: v = "i" + std::to_string(cell.i); break;
      case Cell::Kind::number: v = "d" + std::to_string(cell.d); break;
      case Cell::Kind::boolean: v = cell.i ? "true" : "false"; break;
      default: v = std::string(cell.s); break;
    }
    out[(pr.columns[c].tag ? "tag:" : "") + pr.columns[c].name] = v;
  }
  return out;
}

TEST(JsonPath, DotsBracketsAndQuotesBecomePointers) {
  EXPECT_EQ(json_path_to_pointer("$.a.b"), "/a/b");
  EXPECT_EQ(json_path_to_pointer("a.b[2]"), "/a/b/2");
  EXPECT_EQ(json_path_to_pointer("$['a b'].c"), "/a b/c");
  EXPECT_EQ(json_path_to_pointer("$.x/y~z"), "/x~1y~0z");
  EXPECT_EQ(json_path_to_pointer("$"), std::nullopt);
  EXPECT_EQ(json_path_to_pointer("$..a"), std::nullopt);
  EXPECT_EQ(json_path_to_pointer("$.a[x]"), std::nullopt);
  EXPECT_EQ(json_path_to_pointer("$.a["), std::nullopt);
}

TEST(IngestRule, NamedLevelsPathsAndTime) {
  RuleConfig c;
  c.topic = "plant/+line/+/+device/temp";
  c.table = "Temps";
  c.tags = {{"site", "$.meta.site"}};
  c.fields = {{"value", "$.v"}, {"flag", "$.f[1]"}};
  c.time = "$.ts";
  IngestRule r(c);
  EXPECT_EQ(r.table(), "temps");
  EXPECT_TRUE(r.matches("plant/l1/x/d7/temp"));
  EXPECT_FALSE(r.matches("plant/l1/d7/temp"));
  ParsedRows pr;
  ASSERT_EQ(r.apply("plant/l1/x/d7/temp", R"({"meta":{"site":"north"},"v":21.5,"f":[false,true],"ts":1700000000000})", 1, "", pr),
            "");
  EXPECT_EQ(row_of(pr), (std::map<std::string, std::string>{{"tag:line", "l1"},
                                                            {"tag:device", "d7"},
                                                            {"tag:site", "north"},
                                                            {"time", "i1700000000000"},
                                                            {"value", "d21.500000"},
                                                            {"flag", "true"}}));
  EXPECT_THAT(r.apply("plant/l1/x/d7/temp", R"({"v":1})", 1, "", pr), HasSubstr("no time"));
  EXPECT_THAT(r.apply("plant/l1/x/d7/temp", "{oops", 1, "", pr), HasSubstr("neither a number nor JSON"));
}

TEST(IngestRule, PlainNumbersAndEveryNumericField) {
  RuleConfig c;
  c.topic = "s/+id";
  c.table = "s";
  IngestRule r(c);
  ParsedRows pr;
  ASSERT_EQ(r.apply("s/a", " 41.5\n", 0, "", pr), "");
  EXPECT_EQ(row_of(pr), (std::map<std::string, std::string>{{"tag:id", "a"}, {"value", "d41.500000"}}));
  ASSERT_EQ(r.apply("s/b", R"({"t":20,"h":40.5,"ok":true,"name":"x","nested":{"a":1},"Bad-Key":1})", 0, "", pr), "");
  EXPECT_EQ(row_of(pr), (std::map<std::string, std::string>{{"tag:id", "b"}, {"t", "i20"}, {"h", "d40.500000"}, {"ok", "true"}}));
  EXPECT_THAT(r.apply("s/c", R"({"name":"x"})", 0, "", pr), HasSubstr("no field"));
  EXPECT_THAT(r.apply("s/c", R"([1,2])", 0, "", pr), HasSubstr("not a JSON object"));
}

// apply() reuses what it made of the message before in the same ParsedRows (the column names,
// which keys are columns) while the keys repeat. Messages whose keys change, reorder, repeat,
// change type or clash with a tag or the time must still come out exactly as into a fresh
// ParsedRows, and ParsedRows::layout must stay the same exactly when the columns do.
TEST(IngestRule, MessagesWhoseKeysChangeGetTheirOwnColumns) {
  RuleConfig c;
  c.topic = "fleet/+fleet/+name/readings";
  c.table = "readings";
  c.time = "$.time";
  IngestRule timed(c);
  c.time.clear();
  IngestRule untimed(c);
  c.topic = "other/+name";
  IngestRule other(c);
  const std::vector<std::string> payloads = {
      R"({"time":1,"a":1.5,"b":2,"c":true})",
      R"({"time":2,"a":1.5,"b":2,"c":true})",
      R"({"time":3,"b":2,"a":1.5,"c":true})",
      R"({"time":4,"a":"text","b":2,"c":true})",
      R"({"time":5,"a":1.5,"b":2})",
      R"({"time":6,"a":1.5,"b":2,"c":true,"d":4})",
      R"({"time":7,"A":1.5,"a":2,"b":3})",
      R"({"time":8,"name":1,"fleet":2,"b":3})",
      R"({"b":3,"time":9,"Time":10})",
      R"({"time":10,"bad-key":1,"b":3})",
      R"({"time":11,"a":null,"b":3})",
      R"({"time":12,"a":{"x":1},"b":3})",
      "42.5",
      R"({"time":13})",
      "{oops",
      R"({"time":14,"a":1.5,"b":2,"c":true})",
  };
  const std::vector<const IngestRule*> rules = {&timed, &untimed, &other};
  auto columns_of = [](const ParsedRows& pr) {
    std::vector<std::pair<std::string, bool>> cols;
    for (size_t k = 0; k < pr.width; ++k) cols.emplace_back(pr.columns[k].name, pr.columns[k].tag);
    return cols;
  };
  // What apply() remembers is what the message before left: every message after every other
  // (with each rule), then the same again, which takes the remembered path.
  struct Sent {
    const IngestRule* rule;
    const std::string* payload;
  };
  std::vector<Sent> all;
  for (const IngestRule* r : rules)
    for (const std::string& p : payloads) all.push_back({r, &p});
  ParsedRows kept;
  std::vector<std::pair<std::string, bool>> last_columns;
  uint64_t last_layout = 0;
  auto send = [&](const Sent& m, const std::string& context) {
    std::string topic = m.rule == &other ? "other/n1" : "fleet/f1/truck_1/readings";
    // The fresh result on another thread: apply() remembers the last ParsedRows of its thread.
    ParsedRows fresh;
    std::string want = std::async(std::launch::async, [&] { return m.rule->apply(topic, *m.payload, 0, "", fresh); }).get();
    std::string got = m.rule->apply(topic, *m.payload, 0, "", kept);
    ASSERT_EQ(got, want) << context;
    if (!want.empty()) {
      EXPECT_EQ(kept.layout, 0u) << context;
      last_layout = 0;
      return;
    }
    ASSERT_EQ(columns_of(kept), columns_of(fresh)) << context;
    ASSERT_EQ(kept.columns.size(), kept.width) << context;
    ASSERT_EQ(row_of(kept), row_of(fresh)) << context;
    ASSERT_NE(kept.layout, 0u) << context;
    if (last_layout != 0 && kept.layout == last_layout) {
      EXPECT_EQ(columns_of(kept), last_columns) << context << ": the layout id of other columns";
    }
    last_columns = columns_of(kept);
    last_layout = kept.layout;
  };
  for (size_t x = 0; x < all.size(); ++x)
    for (size_t y = 0; y < all.size(); ++y) {
      std::string context = "after " + *all[x].payload + " (rule " + std::to_string(x / payloads.size()) + "): " +
                            *all[y].payload + " (rule " + std::to_string(y / payloads.size()) + ")";
      send(all[x], context);
      send(all[y], context);
      uint64_t before = last_layout;
      send(all[y], context + ", again");
      // The same message again is recognised (the path that compares nothing).
      EXPECT_EQ(last_layout, before) << context;
    }
}

TEST(IngestRule, ArchiveKeepsTheWholeMessage) {
  RuleConfig c;
  c.topic = "#";
  c.table = "archive";
  c.archive = true;
  IngestRule r(c);
  ParsedRows pr;
  const std::string payload("\0bin", 4);  // the cells point into it (apply()'s contract)
  ASSERT_EQ(r.apply("a/b", payload, 2, R"({"k":"v"})", pr), "");
  auto row = row_of(pr);
  EXPECT_EQ(row["tag:topic"], "a/b");
  EXPECT_EQ(row["payload"], std::string("\0bin", 4));
  EXPECT_EQ(row["qos"], "i2");
  EXPECT_EQ(row["properties"], R"({"k":"v"})");
}

TEST(IngestRule, BadRulesSayWhatIsWrong) {
  auto error_of = [](RuleConfig c) {
    try {
      IngestRule r(c);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  RuleConfig c;
  c.topic = "a/+9/b";
  c.table = "t";
  EXPECT_THAT(error_of(c), HasSubstr("ingest rule 'a/+9/b': '+9': a tag name follows '+'"));
  c.topic = "a/#/b";
  EXPECT_THAT(error_of(c), HasSubstr("not a valid topic filter"));
  c.topic = "db/append/x";
  EXPECT_THAT(error_of(c), HasSubstr("by their own names"));
  c.topic = "a/b";
  c.table = "1t";
  EXPECT_THAT(error_of(c), HasSubstr("table '1t'"));
  c.table = "t";
  c.fields = {{"v", "$..v"}};
  EXPECT_THAT(error_of(c), HasSubstr("JSON path '$..v'"));
  c.fields = {{"v", "$.v"}};
  c.archive = true;
  EXPECT_THAT(error_of(c), HasSubstr("archive rule"));
}

}  // namespace
}  // namespace mqbase::ingest
