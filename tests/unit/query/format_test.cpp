// The result encoders (src/query/format.h): machbase-neo's JSON shape, NDJSON, CSV quoting and
// the psql-like box; NULLs, NaN, escaping and invalid UTF-8, json-typed values; time formats in
// UTC, fixed offsets and IANA zones across summer time; precision; intervals; elapse strings;
// streaming in pieces and stopping when the client is gone; errors before and after rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "query/format.h"

namespace mqbase::query {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kNov14 = 1'700'000'000 * kSec;  // 2023-11-14T22:13:20Z

Vector column(Type t, std::initializer_list<Value> values) {
  Vector v;
  v.clear(t);
  for (const Value& x : values) v.push(x);
  return v;
}

Chunk chunk(std::vector<Vector> columns) {
  Chunk c;
  c.rows = columns.empty() ? 0 : columns[0].size;
  c.columns = std::move(columns);
  return c;
}

QueryStatus ok(std::string tag = "SELECT") {
  QueryStatus s;
  s.tag = std::move(tag);
  return s;
}
QueryStatus failed(std::string error, int position = 0) {
  QueryStatus s;
  s.ok = false;
  s.error = std::move(error);
  s.position = position;
  return s;
}

// What a writer hands its callback, piece by piece; answers false from call `refuse_at` on.
struct Output {
  std::vector<std::string> pieces;
  size_t refuse_at = SIZE_MAX;
  WriteFn fn() {
    return [this](std::string_view s) {
      pieces.emplace_back(s);
      return pieces.size() < refuse_at;
    };
  }
  std::string all() const {
    std::string r;
    for (const auto& p : pieces) r += p;
    return r;
  }
};

std::unique_ptr<ResultWriter> writer(const FormatOptions& o, Output& out) {
  std::string error;
  auto w = make_writer(o, out.fn(), &error);
  EXPECT_NE(w, nullptr) << error;
  return w;
}

FormatOptions opts(std::string format, std::string timeformat = "ns", std::string tz = "UTC") {
  FormatOptions o;
  o.format = std::move(format);
  o.timeformat = std::move(timeformat);
  o.tz = std::move(tz);
  return o;
}

// A whole answer: begin, the chunks, finish.
std::string answer(const FormatOptions& o, const std::vector<ColumnInfo>& columns, const std::vector<Chunk>& chunks,
                   const QueryStatus& status = ok(), std::chrono::nanoseconds elapse = 1234567ns) {
  Output out;
  auto w = writer(o, out);
  if (w == nullptr) return "";
  w->begin(columns);
  for (const Chunk& c : chunks) EXPECT_TRUE(w->rows(c));
  w->finish(status, elapse);
  return out.all();
}

// name text, time timestamp, value double: two rows.
std::vector<ColumnInfo> sensor_columns() {
  return {{"name", Type::text}, {"time", Type::timestamp}, {"value", Type::float64}};
}
Chunk sensor_rows() {
  return chunk({column(Type::text, {Value::of_text("a"), Value::of_text("b")}),
                column(Type::timestamp, {Value::of_time(kNov14), Value::of_time(kNov14 + 500'000'000)}),
                column(Type::float64, {Value::of_float(1.5), Value::make_null()})});
}

// The single value `v` of type `t` as json writes it.
std::string json_value(Type t, const Value& v, FormatOptions o = opts("json")) {
  std::string a = answer(o, {{"v", t}}, {chunk({column(t, {v})})});
  std::string head = "\"rows\":[[";
  size_t from = a.find(head);
  size_t to = a.rfind("]]}");
  if (from == std::string::npos || to == std::string::npos) return "<" + a + ">";
  return a.substr(from + head.size(), to - from - head.size());
}

// The single value as csv writes it (no header).
std::string csv_value(Type t, const Value& v, FormatOptions o = opts("csv")) {
  o.heading = false;
  std::string a = answer(o, {{"v", t}}, {chunk({column(t, {v})})});
  if (a.empty() || a.back() != '\n') return "<" + a + ">";
  return a.substr(0, a.size() - 1);
}

bool valid_json(const std::string& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(s).get(root) == simdjson::SUCCESS;
}

// ---- json --------------------------------------------------------------------------------

TEST(Json, MachbaseNeoShape) {
  EXPECT_EQ(answer(opts("json"), sensor_columns(), {sensor_rows()}),
            R"({"data":{"columns":["name","time","value"],"types":["string","datetime","double"],)"
            R"("rows":[["a",1700000000000000000,1.5],["b",1700000000500000000,null]]},)"
            R"("success":true,"reason":"success","elapse":"1.234567ms"})");
}

TEST(Json, EveryTypeAndItsNeoName) {
  std::vector<ColumnInfo> columns = {{"b", Type::boolean}, {"i", Type::int64},    {"f", Type::float64},
                                     {"s", Type::text},    {"t", Type::timestamp}, {"d", Type::interval},
                                     {"j", Type::json},    {"n", Type::null}};
  Chunk c = chunk({column(Type::boolean, {Value::of_bool(true), Value::of_bool(false)}),
                   column(Type::int64, {Value::of_int(INT64_MIN), Value::of_int(INT64_MAX)}),
                   column(Type::float64, {Value::of_float(0.1), Value::of_float(-2)}),
                   column(Type::text, {Value::of_text(""), Value::of_text("x")}),
                   column(Type::timestamp, {Value::of_time(-1), Value::of_time(0)}),
                   column(Type::interval, {Value::of_interval(3600 * kSec), Value::of_interval(-1)}),
                   column(Type::json, {Value::of_text("[1, 2]", Type::json), Value::of_text("{}", Type::json)}),
                   column(Type::null, {Value::make_null(), Value::make_null()})});
  std::string a = answer(opts("json"), columns, {c});
  EXPECT_THAT(a, HasSubstr(R"("types":["boolean","int64","double","string","datetime","interval","json","unknown"])"));
  EXPECT_THAT(a, HasSubstr(R"("rows":[[true,-9223372036854775808,0.1,"",-1,3600000000000,[1,2],null],)"
                           R"([false,9223372036854775807,-2,"x",0,-1,{},null]])"));
  EXPECT_TRUE(valid_json(a)) << a;
}

TEST(Json, NullsAndNonFiniteDoublesAreNull) {
  EXPECT_EQ(json_value(Type::text, Value::make_null()), "null");
  EXPECT_EQ(json_value(Type::timestamp, Value::make_null()), "null");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(std::nan(""))), "null");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(INFINITY)), "null");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(-INFINITY)), "null");
}

TEST(Json, StringsAreEscaped) {
  EXPECT_EQ(json_value(Type::text, Value::of_text("say \"hi\"\\")), R"("say \"hi\"\\")");
  EXPECT_EQ(json_value(Type::text, Value::of_text("a\nb\tc\rd\be\ff")), R"("a\nb\tc\rd\be\ff")");
  EXPECT_EQ(json_value(Type::text, Value::of_text(std::string("\x01\x1f\0x", 4))), R"("\u0001\u001f\u0000x")");
  EXPECT_EQ(json_value(Type::text, Value::of_text("서울 €1 😀 /</")), "\"서울 €1 😀 /</\"");
  EXPECT_EQ(json_value(Type::text, Value::of_text("a\xe2\x80\xa8" "b\xe2\x80\xa9")), R"("a\u2028b\u2029")");
  EXPECT_EQ(json_value(Type::text, Value::of_text("\x7f")), "\"\x7f\"");
}

TEST(Json, InvalidUtf8BecomesReplacementCharacters) {
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(json_value(Type::text, Value::of_text("a\xff" "b")), "\"a" + r + "b\"");
  EXPECT_EQ(json_value(Type::text, Value::of_text("\xc3")), "\"" + r + "\"");          // cut short
  EXPECT_EQ(json_value(Type::text, Value::of_text("\xc0\xaf")), "\"" + r + r + "\"");  // overlong
  EXPECT_EQ(json_value(Type::text, Value::of_text("\xed\xa0\x80")), "\"" + r + r + r + "\"");  // surrogate
  EXPECT_EQ(json_value(Type::text, Value::of_text("\xf4\x90\x80\x80")), "\"" + r + r + r + r + "\"");  // > U+10FFFF
  EXPECT_TRUE(valid_json("[" + json_value(Type::text, Value::of_text("\xe2\x82\xff")) + "]"));
}

TEST(Json, ColumnNamesAreEscapedToo) {
  std::string a = answer(opts("json"), {{"a\"b", Type::int64}}, {});
  EXPECT_THAT(a, StartsWith(R"({"data":{"columns":["a\"b"],"types":["int64"],"rows":[]},"success":true)"));
}

TEST(Json, JsonValuesAreRawWhenValidAndMinified) {
  EXPECT_EQ(json_value(Type::json, Value::of_text("{\"a\": [1, 2.50, \"x y\"],\n \"b\": null}", Type::json)),
            R"({"a":[1,2.50,"x y"],"b":null})");
  EXPECT_EQ(json_value(Type::json, Value::of_text("42", Type::json)), "42");
  EXPECT_EQ(json_value(Type::json, Value::of_text("\"s\"", Type::json)), "\"s\"");
  // Not JSON: a string holding the text.
  EXPECT_EQ(json_value(Type::json, Value::of_text("{a:1}", Type::json)), R"("{a:1}")");
  EXPECT_EQ(json_value(Type::json, Value::of_text("[1,", Type::json)), R"("[1,")");
  EXPECT_EQ(json_value(Type::json, Value::of_text("", Type::json)), R"("")");
  EXPECT_EQ(json_value(Type::json, Value::make_null()), "null");
}

TEST(Json, Rownum) {
  FormatOptions o = opts("json");
  o.rownum = true;
  Chunk one = chunk({column(Type::int64, {Value::of_int(7), Value::of_int(8)})});
  std::string a = answer(o, {{"x", Type::int64}}, {one, one});
  EXPECT_THAT(a, StartsWith(R"({"data":{"columns":["ROWNUM","x"],"types":["int64","int64"],)"
                            R"("rows":[[1,7],[2,8],[3,7],[4,8]]})"));
}

TEST(Json, EmptyResult) {
  EXPECT_EQ(answer(opts("json"), sensor_columns(), {}, ok(), 0ns),
            R"({"data":{"columns":["name","time","value"],"types":["string","datetime","double"],"rows":[]},)"
            R"("success":true,"reason":"success","elapse":"0s"})");
}

TEST(Json, StatementWithoutRows) {
  Output out;
  auto w = writer(opts("json"), out);
  w->finish(ok("CREATE TABLE"), 5ms);
  EXPECT_EQ(out.all(), R"({"success":true,"reason":"CREATE TABLE","elapse":"5ms"})");
}

TEST(Json, ErrorBeforeBegin) {
  Output out;
  auto w = writer(opts("json"), out);
  w->finish(failed("relation \"nope\" does not exist", 15), 250us);
  EXPECT_EQ(out.all(),
            R"({"success":false,"reason":"relation \"nope\" does not exist at character 15","elapse":"250µs"})");
}

TEST(Json, ErrorAfterBeginBeforeAnythingWasSentIsTheErrorAlone) {
  Output out;
  auto w = writer(opts("json"), out);
  w->begin(sensor_columns());
  EXPECT_EQ(w->bytes_sent(), 0u);
  EXPECT_TRUE(out.pieces.empty());
  w->finish(failed("canceling statement due to statement timeout"), 30s);
  EXPECT_EQ(out.all(), R"({"success":false,"reason":"canceling statement due to statement timeout","elapse":"30s"})");
}

TEST(Json, ErrorAfterRowsStillClosesTheDocument) {
  Output out;
  auto w = writer(opts("json"), out);
  w->begin(sensor_columns());
  EXPECT_TRUE(w->rows(sensor_rows()));
  EXPECT_GT(w->bytes_sent(), 0u);
  w->finish(failed("out of memory: query memory limit exceeded"), 2s);
  std::string a = out.all();
  EXPECT_TRUE(valid_json(a)) << a;
  EXPECT_THAT(a, HasSubstr(R"(["b",1700000000500000000,null]]},"success":false,)"
                           R"("reason":"out of memory: query memory limit exceeded","elapse":"2s"})"));
}

// ---- ndjson ------------------------------------------------------------------------------

TEST(Ndjson, OneObjectPerRow) {
  EXPECT_EQ(answer(opts("ndjson"), sensor_columns(), {sensor_rows()}),
            "{\"name\":\"a\",\"time\":1700000000000000000,\"value\":1.5}\n"
            "{\"name\":\"b\",\"time\":1700000000500000000,\"value\":null}\n");
}

TEST(Ndjson, JsonValuesStayOnTheirLine) {
  std::string a = answer(opts("ndjson"), {{"j", Type::json}},
                         {chunk({column(Type::json, {Value::of_text("{\n  \"a\": 1\n}", Type::json),
                                                     Value::of_text("bad\njson", Type::json)})})});
  EXPECT_EQ(a, "{\"j\":{\"a\":1}}\n{\"j\":\"bad\\njson\"}\n");
}

TEST(Ndjson, RownumAndTimeStrings) {
  FormatOptions o = opts("ndjson", "rfc3339", "Asia/Seoul");
  o.rownum = true;
  std::string a = answer(o, {{"t", Type::timestamp}}, {chunk({column(Type::timestamp, {Value::of_time(kNov14)})})});
  EXPECT_EQ(a, "{\"ROWNUM\":1,\"t\":\"2023-11-15T07:13:20+09:00\"}\n");
}

TEST(Ndjson, StatementsAndErrors) {
  {
    Output out;
    auto w = writer(opts("ndjson"), out);
    w->finish(ok("INSERT 0 2"), 1500ns);
    EXPECT_EQ(out.all(), "{\"success\":true,\"reason\":\"INSERT 0 2\",\"elapse\":\"1.5µs\"}\n");
  }
  {
    Output out;
    auto w = writer(opts("ndjson"), out);
    w->finish(failed("syntax error at or near \"FORM\"", 10), 1ms);
    EXPECT_EQ(out.all(), "{\"success\":false,\"reason\":\"syntax error at or near \\\"FORM\\\" at character 10\","
                         "\"elapse\":\"1ms\"}\n");
  }
  {
    Output out;
    auto w = writer(opts("ndjson"), out);
    w->begin(sensor_columns());
    w->rows(sensor_rows());
    w->finish(failed("division by zero"), 1ms);
    std::string a = out.all();
    EXPECT_THAT(a, HasSubstr("\"value\":null}\n"
                             "{\"success\":false,\"reason\":\"division by zero\",\"elapse\":\"1ms\"}\n"));
  }
}

// ---- csv ---------------------------------------------------------------------------------

TEST(Csv, HeaderAndRows) {
  EXPECT_EQ(answer(opts("csv"), sensor_columns(), {sensor_rows()}),
            "name,time,value\n"
            "a,1700000000000000000,1.5\n"
            "b,1700000000500000000,\n");
}

TEST(Csv, WithoutHeading) {
  FormatOptions o = opts("csv");
  o.heading = false;
  EXPECT_EQ(answer(o, sensor_columns(), {sensor_rows()}), "a,1700000000000000000,1.5\nb,1700000000500000000,\n");
}

TEST(Csv, Rfc4180Quoting) {
  EXPECT_EQ(csv_value(Type::text, Value::of_text("plain")), "plain");
  EXPECT_EQ(csv_value(Type::text, Value::of_text("a,b")), "\"a,b\"");
  EXPECT_EQ(csv_value(Type::text, Value::of_text("say \"hi\"")), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_value(Type::text, Value::of_text("two\nlines")), "\"two\nlines\"");
  EXPECT_EQ(csv_value(Type::text, Value::of_text("cr\r")), "\"cr\r\"");
  EXPECT_EQ(csv_value(Type::text, Value::of_text(" 서울 ")), " 서울 ");
  // An empty text is "" so that it differs from NULL, which is nothing.
  EXPECT_EQ(csv_value(Type::text, Value::of_text("")), "\"\"");
  EXPECT_EQ(csv_value(Type::text, Value::make_null()), "");
  EXPECT_EQ(csv_value(Type::json, Value::of_text("{\"a\":1,\"b\":2}", Type::json)), "\"{\"\"a\"\":1,\"\"b\"\":2}\"");
  std::string a = answer(opts("csv"), {{"a,b", Type::int64}, {"c", Type::int64}}, {});
  EXPECT_EQ(a, "\"a,b\",c\n");
}

TEST(Csv, ValuesAsText) {
  EXPECT_EQ(csv_value(Type::boolean, Value::of_bool(true)), "true");
  EXPECT_EQ(csv_value(Type::boolean, Value::of_bool(false)), "false");
  EXPECT_EQ(csv_value(Type::int64, Value::of_int(-42)), "-42");
  EXPECT_EQ(csv_value(Type::float64, Value::of_float(std::nan(""))), "NaN");
  EXPECT_EQ(csv_value(Type::float64, Value::of_float(INFINITY)), "Infinity");
  EXPECT_EQ(csv_value(Type::float64, Value::of_float(-INFINITY)), "-Infinity");
  EXPECT_EQ(csv_value(Type::interval, Value::of_interval(26 * 3600 * kSec)), "1 day 02:00:00");
  EXPECT_EQ(csv_value(Type::json, Value::of_text("[1]", Type::json)), "[1]");
  // A time format with a comma in it is quoted.
  EXPECT_EQ(csv_value(Type::timestamp, Value::of_time(kNov14), opts("csv", "rfc1123")),
            "\"Tue, 14 Nov 2023 22:13:20 UTC\"");
}

TEST(Csv, Rownum) {
  FormatOptions o = opts("csv");
  o.rownum = true;
  EXPECT_EQ(answer(o, {{"x", Type::text}}, {chunk({column(Type::text, {Value::of_text("p"), Value::of_text("q")})})}),
            "ROWNUM,x\n1,p\n2,q\n");
}

TEST(Csv, StatementsAndErrors) {
  {
    Output out;
    auto w = writer(opts("csv"), out);
    w->finish(ok("DROP TABLE"), 1ms);
    EXPECT_EQ(out.all(), "DROP TABLE\n");
  }
  {
    Output out;
    auto w = writer(opts("csv"), out);
    w->begin(sensor_columns());
    w->finish(failed("column \"x\" does not exist", 8), 1ms);
    EXPECT_EQ(out.all(), "ERROR:  column \"x\" does not exist at character 8\n");
  }
  {
    // After rows nothing can be said in band: the rows stay as they were.
    Output out;
    auto w = writer(opts("csv"), out);
    w->begin(sensor_columns());
    w->rows(sensor_rows());
    w->finish(failed("division by zero"), 1ms);
    EXPECT_EQ(out.all(), "name,time,value\na,1700000000000000000,1.5\nb,1700000000500000000,\n");
  }
}

// ---- box ---------------------------------------------------------------------------------

TEST(Box, PsqlLikeTable) {
  std::vector<ColumnInfo> columns = {{"name", Type::text}, {"value", Type::float64}, {"n", Type::int64}};
  Chunk c = chunk({column(Type::text, {Value::of_text("wave.sin"), Value::of_text("b"), Value::make_null()}),
                   column(Type::float64, {Value::of_float(1.5), Value::of_float(-12.25), Value::make_null()}),
                   column(Type::int64, {Value::of_int(1), Value::of_int(1000), Value::of_int(-3)})});
  EXPECT_EQ(answer(opts("box"), columns, {c}),
            "+----------+--------+------+\n"
            "| name     | value  | n    |\n"
            "+----------+--------+------+\n"
            "| wave.sin |    1.5 |    1 |\n"
            "| b        | -12.25 | 1000 |\n"
            "| NULL     |   NULL |   -3 |\n"
            "+----------+--------+------+\n"
            "(3 rows)\n");
}

TEST(Box, OneRowZeroRowsAndNoHeading) {
  std::vector<ColumnInfo> columns = {{"x", Type::int64}};
  EXPECT_EQ(answer(opts("box"), columns, {chunk({column(Type::int64, {Value::of_int(5)})})}),
            "+---+\n| x |\n+---+\n| 5 |\n+---+\n(1 row)\n");
  EXPECT_EQ(answer(opts("box"), columns, {}), "+---+\n| x |\n+---+\n(0 rows)\n");
  FormatOptions o = opts("box");
  o.heading = false;
  EXPECT_EQ(answer(o, columns, {chunk({column(Type::int64, {Value::of_int(5)})})}), "+---+\n| 5 |\n+---+\n");
}

TEST(Box, WideCharactersAndControlCharacters) {
  std::vector<ColumnInfo> columns = {{"city", Type::text}};
  Chunk c = chunk({column(Type::text, {Value::of_text("서울"), Value::of_text("a\tb\nc"), Value::of_text("é")})});
  EXPECT_EQ(answer(opts("box"), columns, {c}),
            "+---------+\n"
            "| city    |\n"
            "+---------+\n"
            "| 서울    |\n"
            "| a\\tb\\nc |\n"
            "| é       |\n"
            "+---------+\n"
            "(3 rows)\n");
}

TEST(Box, TimesIntervalsAndRownum) {
  FormatOptions o = opts("box", "default", "Asia/Seoul");
  o.rownum = true;
  std::vector<ColumnInfo> columns = {{"time", Type::timestamp}, {"age", Type::interval}};
  Chunk c = chunk({column(Type::timestamp, {Value::of_time(kNov14 + 250'000'000)}),
                   column(Type::interval, {Value::of_interval(90 * 60 * kSec)})});
  EXPECT_EQ(answer(o, columns, {c}),
            "+--------+------------------------+----------+\n"
            "| ROWNUM | time                   | age      |\n"
            "+--------+------------------------+----------+\n"
            "|      1 | 2023-11-15 07:13:20.25 | 01:30:00 |\n"
            "+--------+------------------------+----------+\n"
            "(1 row)\n");
}

TEST(Box, StopsTheQueryPastTheCap) {
  FormatOptions o = opts("box");
  o.box_rows = 3;
  Output out;
  auto w = writer(o, out);
  w->begin({{"x", Type::int64}});
  EXPECT_TRUE(w->rows(chunk({column(Type::int64, {Value::of_int(1), Value::of_int(2)})})));
  EXPECT_FALSE(w->rows(chunk({column(Type::int64, {Value::of_int(3), Value::of_int(4), Value::of_int(5)})})));
  EXPECT_TRUE(out.pieces.empty());  // the box is written by finish()
  w->finish(ok(), 1ms);
  EXPECT_EQ(out.all(), "+---+\n| x |\n+---+\n| 1 |\n| 2 |\n| 3 |\n+---+\n... (more rows not shown)\n(first 3 rows)\n");
}

TEST(Box, StatementsAndErrors) {
  {
    Output out;
    auto w = writer(opts("box"), out);
    w->finish(ok("CREATE TABLE"), 1ms);
    EXPECT_EQ(out.all(), "CREATE TABLE\n");
  }
  {
    // The rows are held until finish(), so an error replaces the whole table.
    Output out;
    auto w = writer(opts("box"), out);
    w->begin(sensor_columns());
    w->rows(sensor_rows());
    w->finish(failed("division by zero"), 1ms);
    EXPECT_EQ(out.all(), "ERROR:  division by zero\n");
  }
}

// ---- Time formats ------------------------------------------------------------------------

TEST(TimeFormats, EpochUnitsAsNumbersOrStrings) {
  Value t = Value::of_time(kNov14 + 123'456'789);
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "ns")), "1700000000123456789");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "")), "1700000000123456789");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "us")), "1700000000123456");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "MS")), "1700000000123");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "s")), "1700000000");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "ns.str")), "\"1700000000123456789\"");
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "s.str")), "\"1700000000\"");
  EXPECT_EQ(json_value(Type::timestamp, Value::of_time(-1), opts("json", "ms")), "-1");  // rounded down
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "ms.str")), "1700000000123");
}

TEST(TimeFormats, MachbaseNeoNames) {
  Value t = Value::of_time(kNov14 + 123'456'789);
  auto as = [&](const char* name) { return csv_value(Type::timestamp, t, opts("csv", name)); };
  EXPECT_EQ(as("Default"), "2023-11-14 22:13:20.123");
  EXPECT_EQ(as("DEFAULT_US"), "2023-11-14 22:13:20.123456");
  EXPECT_EQ(as("default_ns"), "2023-11-14 22:13:20.123456789");
  EXPECT_EQ(as("default.ms"), "2023-11-14 22:13:20.123");
  EXPECT_EQ(csv_value(Type::timestamp, Value::of_time(kNov14), opts("csv", "default.us")),
            "2023-11-14 22:13:20.000000");
  EXPECT_EQ(csv_value(Type::timestamp, Value::of_time(kNov14), opts("csv", "default")), "2023-11-14 22:13:20");
  EXPECT_EQ(as("RFC3339"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(as("rfc3339nano"), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(as("Kitchen"), "10:13:20PM");
  EXPECT_EQ(as("ansic"), "Tue Nov 14 22:13:20 2023");
  EXPECT_EQ(as("Unix"), "Tue Nov 14 22:13:20 UTC 2023");
  EXPECT_EQ(as("RFC822Z"), "14 Nov 23 22:13 +0000");
  EXPECT_EQ(as("stampmilli"), "Nov 14 22:13:20.123");
  EXPECT_EQ(as("S_MS"), "20.123");
  EXPECT_EQ(as("s.us"), "20.123456");
  EXPECT_EQ(as("numeric"), "11/14 10:13:20PM '23 +0000");
  EXPECT_EQ(as("2006/01/02 15h04"), "2023/11/14 22h13");  // a Go layout of one's own
  EXPECT_EQ(json_value(Type::timestamp, t, opts("json", "default")), "\"2023-11-14 22:13:20.123\"");
}

TEST(TimeFormats, ZonesFixedAndIana) {
  Value t = Value::of_time(kNov14);
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "rfc3339", "+09:00")), "2023-11-15T07:13:20+09:00");
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "rfc3339", "-03:30")), "2023-11-14T18:43:20-03:30");
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "rfc3339", "Asia/Seoul")), "2023-11-15T07:13:20+09:00");
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "default", "Asia/Seoul")), "2023-11-15 07:13:20");
  // New York across the 2024 changes: 2024-03-10 07:00Z and 2024-11-03 06:00Z.
  auto ny = [](int64_t seconds) {
    return csv_value(Type::timestamp, Value::of_time(seconds * kSec), opts("csv", "rfc3339", "America/New_York"));
  };
  EXPECT_EQ(ny(1710053999), "2024-03-10T01:59:59-05:00");
  EXPECT_EQ(ny(1710054000), "2024-03-10T03:00:00-04:00");
  EXPECT_EQ(ny(1730613599), "2024-11-03T01:59:59-04:00");
  EXPECT_EQ(ny(1730613600), "2024-11-03T01:00:00-05:00");
  // Epoch numbers do not depend on the zone.
  EXPECT_EQ(csv_value(Type::timestamp, t, opts("csv", "s", "Asia/Seoul")), "1700000000");
  // Local is accepted (its offset is the process's).
  EXPECT_NE(make_writer(opts("csv", "default", "Local"), [](std::string_view) { return true; }, nullptr), nullptr);
}

// ---- Numbers and intervals ---------------------------------------------------------------

TEST(Numbers, ShortestRoundTripByDefault) {
  EXPECT_EQ(json_value(Type::float64, Value::of_float(0.1)), "0.1");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(1.0 / 3)), "0.3333333333333333");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(3)), "3");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(1e20)), "1e+20");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(-2.5e-7)), "-2.5e-07");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(1.7976931348623157e308)), "1.7976931348623157e+308");
  EXPECT_TRUE(valid_json("[" + json_value(Type::float64, Value::of_float(5e-324)) + "]"));
}

TEST(Numbers, PrecisionFixesTheDigits) {
  FormatOptions o = opts("json");
  o.precision = 2;
  EXPECT_EQ(json_value(Type::float64, Value::of_float(3.14159), o), "3.14");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(2), o), "2.00");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(-0.001), o), "-0.00");
  EXPECT_EQ(json_value(Type::float64, Value::of_float(1e20), o), "100000000000000000000.00");
  EXPECT_EQ(json_value(Type::int64, Value::of_int(7), o), "7");  // integers are exact
  o.precision = 0;
  EXPECT_EQ(json_value(Type::float64, Value::of_float(2.6), o), "3");
  FormatOptions c = opts("csv");
  c.precision = 3;
  EXPECT_EQ(csv_value(Type::float64, Value::of_float(1.5), c), "1.500");
  c.precision = 100;
  EXPECT_EQ(csv_value(Type::float64, Value::of_float(-1.7976931348623157e308), c).size(), 1 + 309 + 1 + 100u);
}

TEST(Intervals, PostgresText) {
  auto text = [](int64_t ns) {
    std::string s;
    append_interval(ns, s);
    return s;
  };
  const int64_t hour = 3600 * kSec;
  EXPECT_EQ(text(0), "00:00:00");
  EXPECT_EQ(text(hour), "01:00:00");
  EXPECT_EQ(text(90 * 60 * kSec + 5 * kSec), "01:30:05");
  EXPECT_EQ(text(24 * hour), "1 day");
  EXPECT_EQ(text(48 * hour), "2 days");
  EXPECT_EQ(text(26 * hour), "1 day 02:00:00");
  EXPECT_EQ(text(-hour), "-01:00:00");
  EXPECT_EQ(text(-26 * hour), "-1 days -02:00:00");
  EXPECT_EQ(text(1'500'000'000), "00:00:01.5");
  EXPECT_EQ(text(1), "00:00:00.000000001");
  EXPECT_EQ(text(-250'000), "-00:00:00.00025");
  EXPECT_EQ(text(INT64_MIN), "-106751 days -23:47:16.854775808");
  EXPECT_EQ(text(INT64_MAX), "106751 days 23:47:16.854775807");
}

TEST(Elapse, GoDurationStrings) {
  EXPECT_EQ(go_duration(0ns), "0s");
  EXPECT_EQ(go_duration(1ns), "1ns");
  EXPECT_EQ(go_duration(999ns), "999ns");
  EXPECT_EQ(go_duration(1000ns), "1µs");
  EXPECT_EQ(go_duration(1500ns), "1.5µs");
  EXPECT_EQ(go_duration(1234567ns), "1.234567ms");
  EXPECT_EQ(go_duration(100ms), "100ms");
  EXPECT_EQ(go_duration(1s), "1s");
  EXPECT_EQ(go_duration(2500ms), "2.5s");
  EXPECT_EQ(go_duration(60s), "1m0s");
  EXPECT_EQ(go_duration(90s), "1m30s");
  EXPECT_EQ(go_duration(2h + 500ms), "2h0m0.5s");
  EXPECT_EQ(go_duration(-1ms), "-1ms");
  EXPECT_EQ(go_duration(std::chrono::nanoseconds(INT64_MIN)), "-2562047h47m16.854775808s");
}

// ---- Options -----------------------------------------------------------------------------

TEST(Options, ErrorsNameWhatIsWrong) {
  auto error_of = [](FormatOptions o) {
    std::string e;
    EXPECT_EQ(make_writer(o, [](std::string_view) { return true; }, &e), nullptr);
    return e;
  };
  EXPECT_EQ(error_of(opts("xml")), "unknown format 'xml'; use json, csv, ndjson or box");
  EXPECT_EQ(error_of(opts("json", "ns", "Mars/X")), "unknown time zone 'Mars/X'");
  EXPECT_EQ(error_of(opts("json", "ns", "+25:00")), "unknown time zone '+25:00'");
  EXPECT_EQ(error_of(opts("csv", "iso")), "unknown time format 'iso'");
  FormatOptions o = opts("json");
  o.precision = 200;
  EXPECT_EQ(error_of(o), "precision 200 is out of range (-1 to 100)");
  o.precision = -2;
  EXPECT_EQ(error_of(o), "precision -2 is out of range (-1 to 100)");
  EXPECT_EQ(make_writer(opts("xml"), [](std::string_view) { return true; }, nullptr), nullptr);
}

TEST(Options, FormatNamesAndContentTypes) {
  auto type_of = [](const char* format) {
    auto w = make_writer(opts(format), [](std::string_view) { return true; }, nullptr);
    return w == nullptr ? std::string("null") : std::string(w->content_type());
  };
  EXPECT_EQ(type_of("json"), "application/json");
  EXPECT_EQ(type_of(""), "application/json");
  EXPECT_EQ(type_of("JSON"), "application/json");
  EXPECT_EQ(type_of("ndjson"), "application/x-ndjson");
  EXPECT_EQ(type_of("csv"), "text/csv");
  EXPECT_EQ(type_of("box"), "text/plain");
}

// ---- Streaming ---------------------------------------------------------------------------

// `n` rows of (i int64, s text of 100 bytes).
Chunk wide_rows(int64_t first, size_t n) {
  Chunk c;
  c.columns.resize(2);
  c.columns[0].clear(Type::int64);
  c.columns[1].clear(Type::text);
  for (size_t k = 0; k < n; ++k) {
    c.columns[0].push(Value::of_int(first + static_cast<int64_t>(k)));
    c.columns[1].push(Value::of_text(std::string(100, static_cast<char>('a' + k % 26))));
  }
  c.rows = n;
  return c;
}

TEST(Streaming, BigResultsGoOutInPiecesAsTheyCome) {
  for (const char* format : {"json", "ndjson", "csv"}) {
    Output out;
    auto w = writer(opts(format), out);
    w->begin({{"i", Type::int64}, {"s", Type::text}});
    size_t before = 0;
    for (int64_t c = 0; c < 5; ++c) {
      ASSERT_TRUE(w->rows(wide_rows(c * 2048, 2048)));
      EXPECT_GT(out.pieces.size(), before) << format << ": chunk " << c << " was held back";
      before = out.pieces.size();
    }
    w->finish(ok(), 1s);
    // 10,240 rows of ~110 bytes: over a megabyte, in pieces of about 64 KiB.
    EXPECT_GE(out.pieces.size(), 15u) << format;
    for (const std::string& p : out.pieces) EXPECT_LE(p.size(), 64u * 1024 + 512) << format;
    EXPECT_EQ(w->rows_written(), 5u * 2048);
    std::string a = out.all();
    EXPECT_EQ(w->bytes_sent(), a.size());
    if (std::string(format) == "json") {
      EXPECT_TRUE(valid_json(a));
      EXPECT_THAT(a, HasSubstr("[10239,\"" + std::string(100, static_cast<char>('a' + 2047 % 26)) + "\"]]},"));
    } else {
      size_t lines = std::count(a.begin(), a.end(), '\n');
      EXPECT_EQ(lines, 10240u + (std::string(format) == "csv" ? 1 : 0)) << format;
    }
  }
}

TEST(Streaming, StopsWhenTheClientIsGone) {
  for (const char* format : {"json", "ndjson", "csv", "box"}) {
    Output out;
    out.refuse_at = 2;  // the second piece is refused
    FormatOptions o = opts(format);
    auto w = writer(o, out);
    w->begin({{"i", Type::int64}, {"s", Type::text}});
    bool more = true;
    int chunks = 0;
    while (more && chunks < 10) {
      more = w->rows(wide_rows(0, 2048));
      ++chunks;
    }
    w->finish(ok(), 1s);
    if (std::string(format) == "box") {
      // box sends nothing before finish(); it then writes the table piece by piece and stops.
      EXPECT_EQ(out.pieces.size(), 2u);
      EXPECT_TRUE(w->client_gone());
      continue;
    }
    EXPECT_FALSE(more) << format;
    EXPECT_EQ(chunks, 1) << format;  // within the first chunk
    EXPECT_TRUE(w->client_gone()) << format;
    EXPECT_EQ(out.pieces.size(), 2u) << format;  // nothing after the refusal, not even the end
    EXPECT_FALSE(w->rows(wide_rows(0, 1)));
    EXPECT_EQ(out.pieces.size(), 2u) << format;
  }
}

TEST(Streaming, SmallChunksAreSentAtTheEndOfEachChunk) {
  Output out;
  auto w = writer(opts("ndjson"), out);
  w->begin({{"i", Type::int64}, {"s", Type::text}});
  EXPECT_TRUE(out.pieces.empty());
  EXPECT_TRUE(w->rows(wide_rows(0, 1)));
  ASSERT_EQ(out.pieces.size(), 1u);
  EXPECT_TRUE(w->rows(Chunk{}));  // an empty chunk sends nothing
  EXPECT_EQ(out.pieces.size(), 1u);
  EXPECT_TRUE(w->rows(wide_rows(1, 1)));
  EXPECT_EQ(out.pieces.size(), 2u);
  w->finish(ok(), 1s);
  EXPECT_EQ(out.pieces.size(), 2u);  // ndjson has no end to send
  w->finish(ok(), 1s);               // a second finish() does nothing
  EXPECT_EQ(out.pieces.size(), 2u);
}

}  // namespace
}  // namespace mqbase::query
