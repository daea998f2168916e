// The payload formats (src/ingest/payload.h): every JSON shape and NDJSON, CSV quoting and
// typing, InfluxDB line protocol escapes and mixed tag sets, edge values, the limits, and the
// wording of every error, which names the row (or line) and column a user would look at.
#include "ingest/payload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace mqbase::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Kind = Cell::Kind;
using Lim = std::numeric_limits<int64_t>;

ParseOptions json() { return ParseOptions{Format::json}; }
ParseOptions ndjson() { return ParseOptions{Format::ndjson}; }
ParseOptions line() { return ParseOptions{Format::line}; }
ParseOptions csv(bool header = false, char delimiter = ',') {
  ParseOptions o{Format::csv};
  o.header = header;
  o.delimiter = delimiter;
  return o;
}

// Parses what must parse. `payload` must outlive the result.
ParsedRows ok(std::string_view payload, const ParseOptions& options) {
  ParsedRows rows;
  std::string error = parse(payload, options, rows);
  EXPECT_EQ(error, "") << "payload: " << payload.substr(0, 200);
  EXPECT_EQ(rows.cells.size(), rows.rows() * rows.width);
  if (!rows.columns.empty()) {
    EXPECT_EQ(rows.columns.size(), rows.width);
  }
  return rows;
}

// The error of what must not parse; the rows are left empty.
std::string error(std::string_view payload, const ParseOptions& options) {
  ParsedRows rows;
  rows.cells.resize(3);  // parse() clears what was there
  std::string e = parse(payload, options, rows);
  EXPECT_NE(e, "") << "payload: " << payload.substr(0, 200);
  EXPECT_EQ(rows.rows(), 0u);
  return e;
}

std::vector<std::string> names(const ParsedRows& rows) {
  std::vector<std::string> n;
  for (const ParsedColumn& c : rows.columns) n.push_back(c.name);
  return n;
}

std::vector<bool> tags(const ParsedRows& rows) {
  std::vector<bool> t;
  for (const ParsedColumn& c : rows.columns) t.push_back(c.tag);
  return t;
}

::testing::AssertionResult IsNull(const Cell& c) {
  if (c.kind == Kind::null) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not null";
}
::testing::AssertionResult IsInt(const Cell& c, int64_t v) {
  if (c.kind != Kind::integer) return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not integer";
  if (c.i != v || c.d != static_cast<double>(v))
    return ::testing::AssertionFailure() << "integer " << c.i << " (" << c.d << "), not " << v;
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult IsNumber(const Cell& c, double v) {
  if (c.kind != Kind::number) return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not number";
  if (c.d != v) return ::testing::AssertionFailure() << "number " << c.d << ", not " << v;
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult IsBool(const Cell& c, bool v) {
  if (c.kind != Kind::boolean) return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not boolean";
  if (c.i != (v ? 1 : 0)) return ::testing::AssertionFailure() << "boolean " << c.i;
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult IsString(const Cell& c, std::string_view v) {
  if (c.kind != Kind::string) return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not string";
  if (c.s != v) return ::testing::AssertionFailure() << "string '" << c.s << "', not '" << v << "'";
  return ::testing::AssertionSuccess();
}
::testing::AssertionResult IsJson(const Cell& c, std::string_view v) {
  if (c.kind != Kind::json) return ::testing::AssertionFailure() << "kind " << int(c.kind) << ", not json";
  if (c.s != v) return ::testing::AssertionFailure() << "json '" << c.s << "', not '" << v << "'";
  return ::testing::AssertionSuccess();
}

bool points_into(std::string_view s, std::string_view payload) {
  return s.data() >= payload.data() && s.data() + s.size() <= payload.data() + payload.size();
}

// ---- JSON ------------------------------------------------------------------------------

TEST(JsonPayload, OnePositionalRow) {
  std::string p = R"(["sensor.1", 1700000000000000000, 21.5, true, null])";
  ParsedRows r = ok(p, json());
  EXPECT_TRUE(r.columns.empty());
  ASSERT_EQ(r.rows(), 1u);
  ASSERT_EQ(r.width, 5u);
  EXPECT_TRUE(IsString(r.at(0, 0), "sensor.1"));
  EXPECT_TRUE(IsInt(r.at(0, 1), 1700000000000000000));
  EXPECT_TRUE(IsNumber(r.at(0, 2), 21.5));
  EXPECT_TRUE(IsBool(r.at(0, 3), true));
  EXPECT_TRUE(IsNull(r.at(0, 4)));
}

TEST(JsonPayload, NestedValuesOfAPositionalRowAreJsonCells) {
  std::string p = R"(["a", {"x": [1, 2], "y": "z"}, [1, [2]]])";
  ParsedRows r = ok(p, json());
  ASSERT_EQ(r.width, 3u);
  EXPECT_TRUE(IsJson(r.at(0, 1), R"({"x":[1,2],"y":"z"})"));
  EXPECT_TRUE(IsJson(r.at(0, 2), "[1,[2]]"));
}

TEST(JsonPayload, PositionalRows) {
  std::string p = R"([["a", 1, 1.5], ["b", 2, 2.5], ["c", -3, false]])";
  ParsedRows r = ok(p, json());
  ASSERT_EQ(r.rows(), 3u);
  ASSERT_EQ(r.width, 3u);
  EXPECT_TRUE(IsString(r.at(1, 0), "b"));
  EXPECT_TRUE(IsInt(r.at(2, 1), -3));
  EXPECT_TRUE(IsNumber(r.at(1, 2), 2.5));
  EXPECT_TRUE(IsBool(r.at(2, 2), false));
}

TEST(JsonPayload, PositionalRowsMustHaveOneLength) {
  EXPECT_EQ(error(R"([["a", 1, 1.5], ["b", 2]])", json()), "row 2: expected 3 values, found 2");
  EXPECT_EQ(error(R"([["a"], ["b"], ["c", 1]])", json()), "row 3: expected 1 values, found 2");
  EXPECT_EQ(error(R"([["a", 1], 5])", json()), "row 2: not an array");
  EXPECT_EQ(error(R"([[]])", json()), "row 1: empty row");
}

TEST(JsonPayload, EmptyArrayIsNoRows) {
  ParsedRows r = ok("[]", json());
  EXPECT_EQ(r.rows(), 0u);
}

TEST(JsonPayload, ThousandRows) {
  std::string p = "[";
  for (int i = 0; i < 1000; ++i)
    p += (i ? ",[\"s" : "[\"s") + std::to_string(i) + "\"," + std::to_string(i) + "]";
  p += "]";
  ParsedRows r = ok(p, json());
  ASSERT_EQ(r.rows(), 1000u);
  EXPECT_TRUE(IsString(r.at(999, 0), "s999"));
  EXPECT_TRUE(IsInt(r.at(999, 1), 999));
}

TEST(JsonPayload, NeoShape) {
  std::string p = R"({"data":{"columns":["name","time","value"],
                      "rows":[["my-car",1670380342000000000,32.1],["my-car",1670380343000000000,65.4]]}})";
  ParsedRows r = ok(p, json());
  EXPECT_EQ(names(r), (std::vector<std::string>{"name", "time", "value"}));
  EXPECT_EQ(tags(r), (std::vector<bool>{false, false, false}));
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_TRUE(IsString(r.at(1, 0), "my-car"));
  EXPECT_TRUE(IsInt(r.at(1, 1), 1670380343000000000));
  EXPECT_TRUE(IsNumber(r.at(1, 2), 65.4));
}

TEST(JsonPayload, NeoShapeWithoutRowsYetHasItsColumns) {
  ParsedRows r = ok(R"({"data":{"columns":["a","b"],"rows":[]}})", json());
  EXPECT_EQ(names(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.width, 2u);
  EXPECT_EQ(r.rows(), 0u);
}

TEST(JsonPayload, NeoShapeErrors) {
  EXPECT_EQ(error(R"({"data":{"columns":["a","b"],"rows":[[1,2],[1]]}})", json()),
            "row 2: expected 2 values, found 1");
  EXPECT_EQ(error(R"({"data":{"columns":["a","b"],"rows":[[1,2],3]}})", json()), "row 2: not an array");
  EXPECT_EQ(error(R"({"data":{"columns":["a",2],"rows":[]}})", json()), "data.columns: column 2 is not a string");
  EXPECT_EQ(error(R"({"data":{"columns":["a","a"],"rows":[]}})", json()), "data.columns: column 'a' appears twice");
  EXPECT_EQ(error(R"({"data":{"columns":"a","rows":[]}})", json()), "data.columns is not an array");
  EXPECT_EQ(error(R"({"data":{"columns":[],"rows":[]}})", json()), "data.columns is empty");
  EXPECT_EQ(error(R"({"data":{"columns":["a"]}})", json()), "data.rows is not an array");
}

TEST(JsonPayload, OneNamedRow) {
  std::string p = R"({"name":"m1","time":1700000000,"value":1.25,"ok":true,"none":null,"tags":{"a":[1,2]}})";
  ParsedRows r = ok(p, json());
  EXPECT_EQ(names(r), (std::vector<std::string>{"name", "time", "value", "ok", "none", "tags"}));
  ASSERT_EQ(r.rows(), 1u);
  EXPECT_TRUE(IsString(r.at(0, 0), "m1"));
  EXPECT_TRUE(IsInt(r.at(0, 1), 1700000000));
  EXPECT_TRUE(IsNumber(r.at(0, 2), 1.25));
  EXPECT_TRUE(IsBool(r.at(0, 3), true));
  EXPECT_TRUE(IsNull(r.at(0, 4)));
  EXPECT_TRUE(IsJson(r.at(0, 5), R"({"a":[1,2]})"));
}

TEST(JsonPayload, AnObjectWithDataThatIsNotNeoShapedIsANamedRow) {
  ParsedRows r = ok(R"({"data":{"x":1},"n":2})", json());
  EXPECT_EQ(names(r), (std::vector<std::string>{"data", "n"}));
  EXPECT_TRUE(IsJson(r.at(0, 0), R"({"x":1})"));
}

TEST(JsonPayload, RepeatedKeyKeepsTheLastValue) {
  ParsedRows r = ok(R"({"a":1,"b":2,"a":3})", json());
  EXPECT_EQ(names(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(IsInt(r.at(0, 0), 3));
}

TEST(JsonPayload, EdgeNumbers) {
  std::string p =
      R"([-9223372036854775808, 9223372036854775807, 9223372036854775808, 18446744073709551615,
          123456789012345678901234567890, -9223372036854775809, 1e30, 1e308, -0.0, 0, -0, 1.0, 1E3, 5e-324])";
  ParsedRows r = ok(p, json());
  ASSERT_EQ(r.width, 14u);
  EXPECT_TRUE(IsInt(r.at(0, 0), Lim::min()));
  EXPECT_TRUE(IsInt(r.at(0, 1), Lim::max()));
  EXPECT_TRUE(IsNumber(r.at(0, 2), 9223372036854775808.0));
  EXPECT_TRUE(IsNumber(r.at(0, 3), 18446744073709551615.0));
  EXPECT_TRUE(IsNumber(r.at(0, 4), 123456789012345678901234567890.0));
  EXPECT_TRUE(IsNumber(r.at(0, 5), -9223372036854775809.0));
  EXPECT_TRUE(IsNumber(r.at(0, 6), 1e30));
  EXPECT_TRUE(IsNumber(r.at(0, 7), 1e308));
  EXPECT_TRUE(IsNumber(r.at(0, 8), 0.0));
  EXPECT_TRUE(std::signbit(r.at(0, 8).d));
  EXPECT_TRUE(IsInt(r.at(0, 9), 0));
  EXPECT_TRUE(IsInt(r.at(0, 10), 0));
  EXPECT_TRUE(IsNumber(r.at(0, 11), 1.0));
  EXPECT_TRUE(IsNumber(r.at(0, 12), 1000.0));
  EXPECT_TRUE(IsNumber(r.at(0, 13), 5e-324));
}

TEST(JsonPayload, BigIntegersInsideStringsAndNestedValues) {
  std::string p = R"(["123456789012345678901234567890", [123456789012345678901234567890], "x\"1"])";
  ParsedRows r = ok(p, json());
  EXPECT_TRUE(IsString(r.at(0, 0), "123456789012345678901234567890"));
  EXPECT_EQ(r.at(0, 1).kind, Kind::json);
  EXPECT_THAT(std::string(r.at(0, 1).s), StartsWith("[1.2345678901234568e"));
  EXPECT_TRUE(IsString(r.at(0, 2), "x\"1"));
}

TEST(JsonPayload, NumberOutOfDoubleRangeIsAnError) {
  EXPECT_THAT(error("[1e400]", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[1e400, 123456789012345678901234567890]", json()), StartsWith("payload is not JSON: "));
}

TEST(JsonPayload, Strings) {
  std::string p = R"(["", "caf\u00e9 \ud83d\ude00", "tab\tnew\nline \"q\" \\ \/", "plain", "\u0000x", "한글"])";
  ParsedRows r = ok(p, json());
  EXPECT_TRUE(IsString(r.at(0, 0), ""));
  EXPECT_TRUE(IsString(r.at(0, 1), "caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsString(r.at(0, 2), "tab\tnew\nline \"q\" \\ /"));
  EXPECT_TRUE(IsString(r.at(0, 3), "plain"));
  EXPECT_TRUE(IsString(r.at(0, 4), std::string_view("\0x", 2)));
  EXPECT_TRUE(IsString(r.at(0, 5), "한글"));
}

TEST(JsonPayload, StringsOutliveTheNextParseOnTheThread) {
  std::string a = R"(["first", "second"])";
  std::string b = R"(["third", "fourth", "fifth"])";
  ParsedRows ra = ok(a, json());
  ParsedRows rb = ok(b, json());
  EXPECT_TRUE(IsString(ra.at(0, 0), "first"));
  EXPECT_TRUE(IsString(ra.at(0, 1), "second"));
  ParsedRows moved = std::move(ra);
  EXPECT_TRUE(IsString(moved.at(0, 1), "second"));
}

TEST(JsonPayload, OneMebibyteString) {
  std::string big(1 << 20, 'x');
  big[12345] = 'y';
  std::string p = "[\"" + big + "\", 1]";
  ParsedRows r = ok(p, json());
  EXPECT_TRUE(IsString(r.at(0, 0), big));
  EXPECT_TRUE(IsInt(r.at(0, 1), 1));
  // The thread's scratch is given back after a big message, and the next one still parses.
  ParsedRows small = ok("[1]", json());
  EXPECT_TRUE(IsInt(small.at(0, 0), 1));
}

TEST(JsonPayload, NotJson) {
  EXPECT_THAT(error("", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[1, 2", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[1, 2] x", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("{'a': 1}", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[\"\xff\"]", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[\"a\x01\"]", json()), StartsWith("payload is not JSON: "));
  EXPECT_THAT(error("[01]", json()), StartsWith("payload is not JSON: "));
  EXPECT_EQ(error("42", json()), "payload is not a JSON array or object");
  EXPECT_EQ(error("\"text\"", json()), "payload is not a JSON array or object");
}

TEST(JsonPayload, ByteOrderMarkIsSkipped) {
  std::string p = "\xEF\xBB\xBF[1]";
  EXPECT_TRUE(IsInt(ok(p, json()).at(0, 0), 1));
}

TEST(JsonPayload, TooManyColumns) {
  std::string p = "[";
  for (int i = 0; i < 1025; ++i) p += (i ? ",1" : "1");
  p += "]";
  EXPECT_EQ(error(p, json()), "row 1: too many columns (more than 1024)");
  std::string o = "{";
  for (int i = 0; i < 1025; ++i) o += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  o += "}";
  EXPECT_EQ(error(o, json()), "row 1: too many columns (more than 1024)");
}

// ---- NDJSON ----------------------------------------------------------------------------

TEST(NdjsonPayload, ColumnsAreTheUnionOfKeysInOrderOfAppearance) {
  std::string p =
      "{\"name\":\"a\",\"value\":1}\n"
      "\n"
      "{\"value\":2.5,\"name\":\"b\",\"unit\":\"C\"}\r\n"
      "   \n"
      "{\"name\":\"c\"}\n";
  ParsedRows r = ok(p, ndjson());
  EXPECT_EQ(names(r), (std::vector<std::string>{"name", "value", "unit"}));
  ASSERT_EQ(r.rows(), 3u);
  EXPECT_TRUE(IsString(r.at(0, 0), "a"));
  EXPECT_TRUE(IsInt(r.at(0, 1), 1));
  EXPECT_TRUE(IsNull(r.at(0, 2)));
  EXPECT_TRUE(IsString(r.at(1, 0), "b"));
  EXPECT_TRUE(IsNumber(r.at(1, 1), 2.5));
  EXPECT_TRUE(IsString(r.at(1, 2), "C"));
  EXPECT_TRUE(IsString(r.at(2, 0), "c"));
  EXPECT_TRUE(IsNull(r.at(2, 1)));
  EXPECT_TRUE(IsNull(r.at(2, 2)));
}

TEST(NdjsonPayload, ThousandLines) {
  std::string p;
  for (int i = 0; i < 1000; ++i) p += "{\"i\":" + std::to_string(i) + ",\"s\":\"v" + std::to_string(i) + "\"}\n";
  p += "{\"i\":1000,\"s\":\"last\",\"extra\":[1]}";
  ParsedRows r = ok(p, ndjson());
  ASSERT_EQ(r.rows(), 1001u);
  EXPECT_EQ(names(r), (std::vector<std::string>{"i", "s", "extra"}));
  EXPECT_TRUE(IsInt(r.at(500, 0), 500));
  EXPECT_TRUE(IsString(r.at(999, 1), "v999"));
  EXPECT_TRUE(IsNull(r.at(999, 2)));
  EXPECT_TRUE(IsJson(r.at(1000, 2), "[1]"));
}

TEST(NdjsonPayload, ErrorsNameTheLine) {
  EXPECT_EQ(error("{\"a\":1}\n\n[1,2]\n", ndjson()), "row 3: not a JSON object");
  EXPECT_THAT(error("{\"a\":1}\n{\"a\":\n", ndjson()), StartsWith("row 2: not JSON: "));
  EXPECT_THAT(error("{\"a\":1} {\"b\":2}\n", ndjson()), StartsWith("row 1: not JSON: "));
}

TEST(NdjsonPayload, EmptyIsNoRows) {
  EXPECT_EQ(ok("", ndjson()).rows(), 0u);
  EXPECT_EQ(ok("\n\n  \n", ndjson()).rows(), 0u);
}

TEST(NdjsonPayload, SparseLinesStopAtTheCellLimit) {
  // 16,385 empty rows, then one naming 1,024 keys: the rectangle would be 1,024 wide, 16M
  // cells (640 MiB) out of a 60 KiB payload. Caught as the columns come, before any row widens.
  std::string p;
  for (int i = 0; i < 16385; ++i) p += "{}\n";
  p += "{";
  for (int i = 0; i < 1024; ++i) p += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  p += "}\n";
  EXPECT_EQ(error(p, ndjson()), "row 16386: too many cells for the payload's size (more than 4 a byte)");
  // The other way round: a wide first row, then empty ones.
  std::string q = p.substr(16385 * 3);
  for (int i = 0; i < 1100; ++i) q += "{}\n";
  EXPECT_EQ(error(q, ndjson()), "row 1025: too many cells for the payload's size (more than 4 a byte)");
  // Sparse but not out of proportion: fine.
  std::string r = p.substr(16385 * 3);
  for (int i = 0; i < 200; ++i) r += "{}\n";
  EXPECT_EQ(ok(r, ndjson()).rows(), 201u);
}

// ---- CSV -------------------------------------------------------------------------------

TEST(CsvPayload, FieldsAreTypedByWhatTheyRead) {
  std::string p = "a,,12,-3,1.5,1e3,true,FALSE, 12 ,+5,inf,nan,1e400,9223372036854775808,\"12\",0x10,1.2.3";
  ParsedRows r = ok(p, csv());
  ASSERT_EQ(r.width, 17u);
  EXPECT_TRUE(r.columns.empty());
  EXPECT_TRUE(IsString(r.at(0, 0), "a"));
  EXPECT_TRUE(IsNull(r.at(0, 1)));
  EXPECT_TRUE(IsInt(r.at(0, 2), 12));
  EXPECT_TRUE(IsInt(r.at(0, 3), -3));
  EXPECT_TRUE(IsNumber(r.at(0, 4), 1.5));
  EXPECT_TRUE(IsNumber(r.at(0, 5), 1000));
  EXPECT_TRUE(IsBool(r.at(0, 6), true));
  EXPECT_TRUE(IsBool(r.at(0, 7), false));
  EXPECT_TRUE(IsInt(r.at(0, 8), 12));
  EXPECT_TRUE(IsInt(r.at(0, 9), 5));
  EXPECT_TRUE(IsString(r.at(0, 10), "inf"));
  EXPECT_TRUE(IsString(r.at(0, 11), "nan"));
  EXPECT_TRUE(IsString(r.at(0, 12), "1e400"));
  EXPECT_TRUE(IsNumber(r.at(0, 13), 9223372036854775808.0));
  EXPECT_TRUE(IsString(r.at(0, 14), "12"));
  EXPECT_TRUE(IsString(r.at(0, 15), "0x10"));
  EXPECT_TRUE(IsString(r.at(0, 16), "1.2.3"));
}

TEST(CsvPayload, EdgeIntegers) {
  std::string p = "-9223372036854775808,9223372036854775807,-9223372036854775809,-0.0";
  ParsedRows r = ok(p, csv());
  EXPECT_TRUE(IsInt(r.at(0, 0), Lim::min()));
  EXPECT_TRUE(IsInt(r.at(0, 1), Lim::max()));
  EXPECT_TRUE(IsNumber(r.at(0, 2), -9223372036854775809.0));
  EXPECT_TRUE(IsNumber(r.at(0, 3), 0.0));
  EXPECT_TRUE(std::signbit(r.at(0, 3).d));
}

TEST(CsvPayload, Quoting) {
  std::string p = "\"a \"\"b\"\"\",\"x,y\",\"line1\nline2\",\"\",plain\n";
  ParsedRows r = ok(p, csv());
  ASSERT_EQ(r.rows(), 1u);
  EXPECT_TRUE(IsString(r.at(0, 0), "a \"b\""));
  EXPECT_TRUE(IsString(r.at(0, 1), "x,y"));
  EXPECT_TRUE(IsString(r.at(0, 2), "line1\nline2"));
  EXPECT_TRUE(IsString(r.at(0, 3), ""));
  EXPECT_TRUE(IsString(r.at(0, 4), "plain"));
  // Fields without doubled quotes point into the payload; unescaped ones into the arena.
  EXPECT_TRUE(points_into(r.at(0, 1).s, p));
  EXPECT_TRUE(points_into(r.at(0, 4).s, p));
  EXPECT_FALSE(points_into(r.at(0, 0).s, p));
}

TEST(CsvPayload, HeaderNamesTheColumns) {
  std::string p = " name , time,\"value\" \nm1,1700000000,1.5\r\nm2,1700000001,\r\n";
  ParsedRows r = ok(p, csv(true));
  EXPECT_EQ(names(r), (std::vector<std::string>{"name", "time", "value"}));
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_TRUE(IsString(r.at(1, 0), "m2"));
  EXPECT_TRUE(IsInt(r.at(1, 1), 1700000001));
  EXPECT_TRUE(IsNull(r.at(1, 2)));
}

TEST(CsvPayload, HeaderOnlyIsColumnsWithoutRows) {
  ParsedRows r = ok("a,b\n", csv(true));
  EXPECT_EQ(names(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.width, 2u);
  EXPECT_EQ(r.rows(), 0u);
  EXPECT_EQ(ok("", csv(true)).rows(), 0u);
}

TEST(CsvPayload, LineEndsAndBlankLines) {
  std::string p = "\n1,2\r\n\r\n  \n3,4\n\n5,6";
  ParsedRows r = ok(p, csv());
  ASSERT_EQ(r.rows(), 3u);
  EXPECT_TRUE(IsInt(r.at(2, 1), 6));
  EXPECT_EQ(ok("1,2\n", csv()).rows(), 1u);
  EXPECT_EQ(ok("1,2\r\n", csv()).rows(), 1u);
  EXPECT_EQ(ok("1,2\r", csv()).rows(), 1u);
  EXPECT_TRUE(IsInt(ok("1,2\r", csv()).at(0, 1), 2));
  EXPECT_EQ(ok("", csv()).rows(), 0u);
}

TEST(CsvPayload, OtherDelimiters) {
  ParsedRows semi = ok("a;1,5;\"x;y\"\n", csv(false, ';'));
  ASSERT_EQ(semi.width, 3u);
  EXPECT_TRUE(IsString(semi.at(0, 1), "1,5"));
  EXPECT_TRUE(IsString(semi.at(0, 2), "x;y"));
  ParsedRows tab = ok("a\t1\t2.5\n", csv(false, '\t'));
  ASSERT_EQ(tab.width, 3u);
  EXPECT_TRUE(IsNumber(tab.at(0, 2), 2.5));
  EXPECT_THAT(error("a", csv(false, '"')), StartsWith("invalid CSV delimiter"));
}

TEST(CsvPayload, ThousandRows) {
  std::string p = "name,value\n";
  for (int i = 0; i < 1000; ++i) p += "s" + std::to_string(i) + "," + std::to_string(i) + ".5\n";
  ParsedRows r = ok(p, csv(true));
  ASSERT_EQ(r.rows(), 1000u);
  EXPECT_TRUE(IsNumber(r.at(999, 1), 999.5));
}

TEST(CsvPayload, Errors) {
  EXPECT_EQ(error("a,b\n1,2\n1,2,3\n", csv()), "row 3: expected 2 fields, found 3");
  EXPECT_EQ(error("a,b\n1,2\n\n1\n", csv(true)), "row 4: expected 2 fields, found 1");
  // Rows are counted by the line they start on, quoted newlines included.
  EXPECT_EQ(error("\"a\nb\",1\n1\n", csv()), "row 3: expected 2 fields, found 1");
  EXPECT_EQ(error("a,b\n1,\"open\n", csv()), "row 2, column 2: unterminated quoted field");
  EXPECT_EQ(error("\"a\"b,c\n", csv()), "row 1, column 1: unexpected text after a quoted field");
  EXPECT_EQ(error("a,a\n1,2\n", csv(true)), "row 1: column 'a' appears twice");
}

TEST(CsvPayload, Limits) {
  std::string wide(1025 * 2 - 1, ',');
  for (size_t i = 0; i < wide.size(); i += 2) wide[i] = '1';
  EXPECT_EQ(error(wide, csv()), "row 1: too many columns (more than 1024)");
  std::string tall;
  tall.reserve(2'000'004);
  for (int i = 0; i < 1'000'001; ++i) tall += "1\n";
  EXPECT_EQ(error(tall, csv()), "row 1000001: too many rows (more than 1000000)");
  tall.resize(tall.size() - 2);
  EXPECT_EQ(ok(tall, csv()).rows(), 1'000'000u);
}

// ---- Line protocol ---------------------------------------------------------------------

TEST(LineProtocol, OnePoint) {
  std::string p = "cpu,host=a,region=eu usage=1.5,count=2i,name=\"x y\",ok=t,n=3u 1700000000000000000\n";
  ParsedRows r = ok(p, line());
  EXPECT_EQ(names(r),
            (std::vector<std::string>{"measurement", "host", "region", "usage", "count", "name", "ok", "n", "time"}));
  EXPECT_EQ(tags(r), (std::vector<bool>{true, true, true, false, false, false, false, false, false}));
  ASSERT_EQ(r.rows(), 1u);
  EXPECT_TRUE(IsString(r.at(0, 0), "cpu"));
  EXPECT_TRUE(IsString(r.at(0, 1), "a"));
  EXPECT_TRUE(IsString(r.at(0, 2), "eu"));
  EXPECT_TRUE(IsNumber(r.at(0, 3), 1.5));
  EXPECT_TRUE(IsInt(r.at(0, 4), 2));
  EXPECT_TRUE(IsString(r.at(0, 5), "x y"));
  EXPECT_TRUE(IsBool(r.at(0, 6), true));
  EXPECT_TRUE(IsInt(r.at(0, 7), 3));
  EXPECT_TRUE(IsInt(r.at(0, 8), 1700000000000000000));
  EXPECT_TRUE(points_into(r.at(0, 0).s, p));
}

TEST(LineProtocol, FieldTypes) {
  std::string p =
      "m a=1,b=1e3,c=-1.5,d=9223372036854775807i,e=-9223372036854775808i,f=9223372036854775807u,g=\"\","
      "t1=t,t2=T,t3=true,t4=True,t5=TRUE,f1=f,f2=F,f3=false,f4=False,f5=FALSE,h=1.7976931348623157e308\n";
  ParsedRows r = ok(p, line());
  ASSERT_EQ(r.rows(), 1u);
  EXPECT_TRUE(IsNumber(r.at(0, 1), 1));
  EXPECT_TRUE(IsNumber(r.at(0, 2), 1000));
  EXPECT_TRUE(IsNumber(r.at(0, 3), -1.5));
  EXPECT_TRUE(IsInt(r.at(0, 4), Lim::max()));
  EXPECT_TRUE(IsInt(r.at(0, 5), Lim::min()));
  EXPECT_TRUE(IsInt(r.at(0, 6), Lim::max()));
  EXPECT_TRUE(IsString(r.at(0, 7), ""));
  for (size_t c = 8; c < 13; ++c) EXPECT_TRUE(IsBool(r.at(0, c), true)) << c;
  for (size_t c = 13; c < 18; ++c) EXPECT_TRUE(IsBool(r.at(0, c), false)) << c;
  EXPECT_TRUE(IsNumber(r.at(0, 18), 1.7976931348623157e308));
  EXPECT_TRUE(IsNull(r.at(0, 19)));  // no timestamp
}

TEST(LineProtocol, Escapes) {
  std::string p =
      "my\\ meas\\,ure,t\\=ag\\ 1=v\\,a\\ l\\=ue,plain=x f\\ ie\\,ld\\==\"say \\\"hi\\\" \\\\ \\n\" 1\n"
      "back\\\\slash,k=a\\b f=1 2\n";
  ParsedRows r = ok(p, line());
  EXPECT_EQ(names(r), (std::vector<std::string>{"measurement", "t=ag 1", "plain", "k", "f ie,ld=", "f", "time"}));
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_TRUE(IsString(r.at(0, 0), "my meas,ure"));
  EXPECT_TRUE(IsString(r.at(0, 1), "v,a l=ue"));
  EXPECT_TRUE(IsString(r.at(0, 4), "say \"hi\" \\ \\n"));
  EXPECT_TRUE(IsString(r.at(1, 0), "back\\slash"));
  EXPECT_TRUE(IsString(r.at(1, 3), "a\\b"));
}

TEST(LineProtocol, MixedTagAndFieldSetsMakeOneRectangle) {
  std::string p =
      "# a comment\n"
      "\n"
      "cpu,host=a usage=1 10\n"
      "mem,region=eu free=2i,usage=3 20\r\n"
      "cpu load=0.5\n"
      "  disk,host=b,region=us used=\"70%\"\n";
  ParsedRows r = ok(p, line());
  EXPECT_EQ(names(r),
            (std::vector<std::string>{"measurement", "host", "region", "usage", "free", "load", "used", "time"}));
  EXPECT_EQ(tags(r), (std::vector<bool>{true, true, true, false, false, false, false, false}));
  ASSERT_EQ(r.rows(), 4u);
  // cpu,host=a usage=1 10
  EXPECT_TRUE(IsString(r.at(0, 0), "cpu"));
  EXPECT_TRUE(IsString(r.at(0, 1), "a"));
  EXPECT_TRUE(IsNull(r.at(0, 2)));
  EXPECT_TRUE(IsNumber(r.at(0, 3), 1));
  EXPECT_TRUE(IsNull(r.at(0, 4)));
  EXPECT_TRUE(IsInt(r.at(0, 7), 10));
  // mem,region=eu free=2i,usage=3 20
  EXPECT_TRUE(IsNull(r.at(1, 1)));
  EXPECT_TRUE(IsString(r.at(1, 2), "eu"));
  EXPECT_TRUE(IsNumber(r.at(1, 3), 3));
  EXPECT_TRUE(IsInt(r.at(1, 4), 2));
  EXPECT_TRUE(IsInt(r.at(1, 7), 20));
  // cpu load=0.5
  EXPECT_TRUE(IsNumber(r.at(2, 5), 0.5));
  EXPECT_TRUE(IsNull(r.at(2, 7)));
  // disk,host=b,region=us used="70%"
  EXPECT_TRUE(IsString(r.at(3, 1), "b"));
  EXPECT_TRUE(IsString(r.at(3, 2), "us"));
  EXPECT_TRUE(IsString(r.at(3, 6), "70%"));
  EXPECT_TRUE(IsNull(r.at(3, 3)));
}

TEST(LineProtocol, ThousandPointsWithVaryingTags) {
  std::string p;
  for (int i = 0; i < 1000; ++i)
    p += "m,t" + std::to_string(i % 3) + "=x v=" + std::to_string(i) + "i " + std::to_string(i) + "\n";
  ParsedRows r = ok(p, line());
  ASSERT_EQ(r.rows(), 1000u);
  EXPECT_EQ(names(r), (std::vector<std::string>{"measurement", "t0", "t1", "t2", "v", "time"}));
  EXPECT_TRUE(IsString(r.at(998, 3), "x"));
  EXPECT_TRUE(IsNull(r.at(998, 1)));
  EXPECT_TRUE(IsInt(r.at(998, 4), 998));
  EXPECT_TRUE(IsInt(r.at(999, 5), 999));
}

TEST(LineProtocol, StringFieldsMayHoldNewlines) {
  std::string p = "m s=\"a\nb\" 1\nm s=oops 2\n";
  EXPECT_EQ(error(p, line()), "line 3: invalid field value 'oops'");
  ParsedRows r = ok("m s=\"a\nb\",n=1i 1\n", line());
  EXPECT_TRUE(IsString(r.at(0, 1), "a\nb"));
}

TEST(LineProtocol, Errors) {
  EXPECT_EQ(error("m v=1\n\nm v=abc\n", line()), "line 3: invalid field value 'abc'");
  EXPECT_EQ(error("m v=18446744073709551615u", line()),
            "line 1: unsigned field value '18446744073709551615u' does not fit int64");
  EXPECT_EQ(error("m v=-1u", line()), "line 1: invalid unsigned field value '-1u'");
  EXPECT_EQ(error("m v=9223372036854775808i", line()),
            "line 1: invalid integer field value '9223372036854775808i'");
  EXPECT_EQ(error("m v=1.5i", line()), "line 1: invalid integer field value '1.5i'");
  EXPECT_EQ(error("m v=yes", line()), "line 1: invalid field value 'yes'");
  EXPECT_EQ(error("m v=1e400", line()), "line 1: invalid field value '1e400'");
  EXPECT_EQ(error("m v=", line()), "line 1: missing field value");
  EXPECT_EQ(error("m\n", line()), "line 1: missing fields");
  EXPECT_EQ(error("m,t=1\n", line()), "line 1: missing fields");
  EXPECT_EQ(error("m,t= v=1", line()), "line 1: missing value of tag 't'");
  EXPECT_EQ(error("m,=1 v=1", line()), "line 1: missing tag key");
  EXPECT_EQ(error("m,t v=1", line()), "line 1: missing '=' after tag key 't'");
  EXPECT_EQ(error("m v", line()), "line 1: missing '=' after field key 'v'");
  EXPECT_EQ(error("m =1", line()), "line 1: missing field key");
  EXPECT_EQ(error(",t=1 v=1", line()), "line 1: missing measurement");
  EXPECT_EQ(error("m v=\"open", line()), "line 1: unterminated string field");
  EXPECT_EQ(error("m v=\"x\"y", line()), "line 1: unexpected text after string field 'v'");
  EXPECT_EQ(error("m v=1 12ab", line()), "line 1: invalid timestamp '12ab'");
  EXPECT_EQ(error("m v=1 12 13", line()), "line 1: unexpected text after the timestamp");
  EXPECT_EQ(error("m,x=1 v=1\nm x=2\n", line()), "line 2: 'x' is both a tag and a field");
  EXPECT_EQ(error("m v=1\nm,v=a w=1\n", line()), "line 2: 'v' is both a tag and a field");
  EXPECT_EQ(error("m time=1\n", line()), "line 1: 'time' is a reserved name");
  EXPECT_EQ(error("m,time=1 v=1\n", line()), "line 1: 'time' is a reserved name");
  EXPECT_EQ(error("m,measurement=a v=1\n", line()), "line 1: 'measurement' is a reserved name");
}

TEST(LineProtocol, EmptyAndCommentsOnly) {
  EXPECT_EQ(ok("", line()).rows(), 0u);
  EXPECT_EQ(ok("# only\n\n  # a comment\n", line()).rows(), 0u);
}

TEST(LineProtocol, NegativeTimestampAndCrLf) {
  ParsedRows r = ok("m v=1 -1000\r\nm v=2\r\n", line());
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_TRUE(IsInt(r.at(0, 2), -1000));
  EXPECT_TRUE(IsNull(r.at(1, 2)));
}

TEST(LineProtocol, RowLimit) {
  std::string p;
  p.reserve(6'000'010);
  for (int i = 0; i < 1'000'001; ++i) p += "m v=1\n";
  EXPECT_EQ(error(p, line()), "line 1000001: too many rows (more than 1000000)");
}

// ---- parse() ---------------------------------------------------------------------------

TEST(Parse, ClearsWhatWasThereAndIsReusable) {
  ParsedRows r;
  ASSERT_EQ(parse("a,b\n1,2\n", csv(true), r), "");
  ASSERT_EQ(parse("[[1],[2],[3]]", json(), r), "");
  EXPECT_TRUE(r.columns.empty());
  EXPECT_EQ(r.rows(), 3u);
  EXPECT_NE(parse("[[1],[2,3]]", json(), r), "");
  EXPECT_EQ(r.rows(), 0u);
  EXPECT_TRUE(r.arena.empty());
}

}  // namespace
}  // namespace mqbase::ingest
