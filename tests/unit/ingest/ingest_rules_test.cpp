// Ingest rules: filters with named levels, JSON paths, plain numbers, every numeric field,
// archive rows, and the errors a bad rule or payload gets.
#include "ingest/ingest_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

TEST(IngestRule, ArchiveKeepsTheWholeMessage) {
  RuleConfig c;
  c.topic = "#";
  c.table = "archive";
  c.archive = true;
  IngestRule r(c);
  ParsedRows pr;
  ASSERT_EQ(r.apply("a/b", std::string("\0bin", 4), 2, R"({"k":"v"})", pr), "");
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
