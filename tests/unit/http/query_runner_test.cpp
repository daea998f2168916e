// run_query: the real ResultWriter (query/format.h) behind a fake engine, into a recording
// AnswerOutput: which answers go whole and which stream, the HTTP statuses, errors before and
// after the first row, gzip, the limits handed to the engine, an MQTT answer's size cap, and
// a receiver that goes away.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "http/query_runner.h"
#include "ingest/ingest.h"

namespace mqbase::http {
namespace {

using ::testing::HasSubstr;

// The ingest's own gunzip (what a gzip write goes through), checking that it inflates.
std::string gunzip(const std::string& in) {
  std::string out, error;
  EXPECT_TRUE(ingest::gunzip(in, out, &error)) << error;
  return out;
}

struct Recorder : AnswerOutput {
  std::vector<std::string> calls;
  int status = 0;
  std::string content_type, body;
  bool gzip = false;
  size_t accept_bytes = SIZE_MAX;  // stream_bytes() returns false past this many bytes

  void whole(int s, std::string_view ct, bool gz, std::string b) override {
    calls.push_back("whole");
    status = s;
    content_type = ct;
    gzip = gz;
    body = std::move(b);
  }
  void stream_begin(std::string_view ct, bool gz) override {
    calls.push_back("begin");
    status = 200;
    content_type = ct;
    gzip = gz;
  }
  bool stream_bytes(std::string_view b) override {
    if (calls.empty() || calls.back() != "bytes") calls.push_back("bytes");
    if (body.size() + b.size() > accept_bytes) return false;
    body.append(b);
    return true;
  }
  void stream_end() override { calls.push_back("end"); }
  void stream_abort(const std::string&) override { calls.push_back("abort"); }
};

query::Chunk ints(int64_t from, size_t n) {
  query::Chunk c;
  c.columns.resize(1);
  c.columns[0].clear(query::Type::int64);
  for (size_t i = 0; i < n; ++i) c.columns[0].push(query::Value::of_int(from + static_cast<int64_t>(i)));
  c.rows = n;
  return c;
}

// An engine that sends `chunks` chunks of `rows` rows each, then fails with `error` when set
// ("" for success), or fails before begin() when `early` is set.
struct FakeEngine {
  int chunks = 1;
  size_t rows = 3;
  std::string error;
  bool early = false;
  query::QueryOptions seen;
  int chunks_sent = 0;
  bool stopped = false;

  Execute execute() {
    return [this](std::string_view, const query::QueryOptions& o, query::ResultSink& sink) {
      seen = o;
      query::QueryStatus st;
      if (early) {
        st.ok = false;
        st.error = "relation \"nope\" does not exist";
        st.position = 15;
        return st;
      }
      sink.begin({{"n", query::Type::int64}});
      st.has_rows = true;
      for (int i = 0; i < chunks; ++i) {
        ++chunks_sent;
        st.rows += rows;
        if (!sink.rows(ints(i * 1000, rows))) {
          stopped = true;
          break;
        }
      }
      if (!error.empty()) {
        st.ok = false;
        st.error = error;
      }
      return st;
    };
  }
};

QueryRequest req(std::string format = "json") {
  QueryRequest r;
  r.sql = "SELECT n FROM t";
  r.format.format = std::move(format);
  return r;
}

TEST(QueryRunnerTest, RowsStreamOverHttp) {
  FakeEngine e;
  Recorder out;
  auto st = run_query(e.execute(), req(), QueryLimits{}, out, nullptr);
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(out.calls, (std::vector<std::string>{"begin", "bytes", "end"}));
  EXPECT_EQ(out.content_type, "application/json");
  EXPECT_THAT(out.body, HasSubstr("\"rows\":[[0],[1],[2]]"));
  EXPECT_THAT(out.body, HasSubstr("\"success\":true"));
}

TEST(QueryRunnerTest, AnMqttAnswerIsWhole) {
  FakeEngine e;
  Recorder out;
  QueryLimits l;
  l.may_stream = false;
  run_query(e.execute(), req("csv"), l, out, nullptr);
  EXPECT_EQ(out.calls, std::vector<std::string>{"whole"});
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(out.body, "n\n0\n1\n2\n");
}

TEST(QueryRunnerTest, AnErrorBeforeAnyRowIs400InTheFormatsOwnWords) {
  for (std::string format : {"json", "ndjson"}) {
    FakeEngine e;
    e.early = true;
    Recorder out;
    auto st = run_query(e.execute(), req(format), QueryLimits{}, out, nullptr);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(out.calls, std::vector<std::string>{"whole"}) << format;
    EXPECT_EQ(out.status, 400);
    EXPECT_THAT(out.content_type, HasSubstr("json"));
    EXPECT_THAT(out.body, HasSubstr("{\"success\":false,\"reason\":\"relation \\\"nope\\\" does not exist at character 15"));
    EXPECT_THAT(out.body, HasSubstr("\"elapse\":"));
  }
  for (std::string format : {"csv", "box"}) {
    FakeEngine e;
    e.early = true;
    Recorder out;
    run_query(e.execute(), req(format), QueryLimits{}, out, nullptr);
    EXPECT_EQ(out.calls, std::vector<std::string>{"whole"}) << format;
    EXPECT_EQ(out.status, 400);
    EXPECT_THAT(out.body, HasSubstr("ERROR:  relation \"nope\" does not exist at character 15"));
  }
}

TEST(QueryRunnerTest, AnErrorAfterRowsIsInBandForJsonAndAnAbortForCsv) {
  FakeEngine e;
  e.error = "canceling statement due to statement timeout";
  Recorder json;
  run_query(e.execute(), req("json"), QueryLimits{}, json, nullptr);
  EXPECT_EQ(json.calls, (std::vector<std::string>{"begin", "bytes", "end"}));
  EXPECT_THAT(json.body, HasSubstr("\"success\":false"));
  EXPECT_THAT(json.body, HasSubstr("statement timeout"));
  Recorder csv;
  run_query(e.execute(), req("csv"), QueryLimits{}, csv, nullptr);
  EXPECT_EQ(csv.calls, (std::vector<std::string>{"begin", "bytes", "abort"}));
  // Over MQTT nothing went out yet: the error is the answer.
  Recorder mqtt;
  QueryLimits l;
  l.may_stream = false;
  run_query(e.execute(), req("csv"), l, mqtt, nullptr);
  EXPECT_EQ(mqtt.calls, std::vector<std::string>{"whole"});
  EXPECT_EQ(mqtt.status, 400);
  EXPECT_EQ(mqtt.body.find("0\n1\n"), std::string::npos) << "no rows, the error alone";
  EXPECT_THAT(mqtt.body, HasSubstr("ERROR:  canceling statement due to statement timeout"));
}

TEST(QueryRunnerTest, ABadFormatIs400) {
  FakeEngine e;
  Recorder out;
  run_query(e.execute(), req("xml"), QueryLimits{}, out, nullptr);
  EXPECT_EQ(out.status, 400);
  EXPECT_THAT(out.body, HasSubstr("xml"));
  EXPECT_EQ(e.chunks_sent, 0);
}

TEST(QueryRunnerTest, GzipStreamsAndWholeAnswersInflateToThePlainOnes) {
  FakeEngine e;
  e.chunks = 20;
  e.rows = 2048;
  Recorder plain, zipped;
  run_query(e.execute(), req("csv"), QueryLimits{}, plain, nullptr);
  QueryRequest r = req("csv");
  r.gzip = true;
  run_query(e.execute(), r, QueryLimits{}, zipped, nullptr);
  EXPECT_TRUE(zipped.gzip);
  EXPECT_LT(zipped.body.size(), plain.body.size());
  EXPECT_EQ(gunzip(zipped.body), plain.body);
  QueryLimits l;
  l.may_stream = false;
  Recorder whole;
  run_query(e.execute(), r, l, whole, nullptr);
  EXPECT_EQ(whole.calls, std::vector<std::string>{"whole"});
  EXPECT_TRUE(whole.gzip);
  EXPECT_EQ(gunzip(whole.body), plain.body);
}

TEST(QueryRunnerTest, LimitsReachTheEngine) {
  FakeEngine e;
  Recorder out;
  QueryLimits l;
  l.timeout = std::chrono::milliseconds(5000);
  l.max_timeout = std::chrono::milliseconds(10000);
  l.memory_limit = 1234;
  QueryRequest r = req();
  r.params = {query::Value::of_int(7)};
  r.format.tz = "Asia/Seoul";
  std::atomic<bool> cancel{false};
  run_query(e.execute(), r, l, out, &cancel);
  EXPECT_EQ(e.seen.timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(e.seen.memory_limit, 1234u);
  EXPECT_EQ(e.seen.cancel, &cancel);
  EXPECT_EQ(e.seen.tz, "Asia/Seoul");
  EXPECT_EQ(e.seen.params, r.params);
  r.timeout = std::chrono::milliseconds(100);
  run_query(e.execute(), r, l, out, nullptr);
  EXPECT_EQ(e.seen.timeout, std::chrono::milliseconds(100));
  r.timeout = std::chrono::milliseconds(60000);
  run_query(e.execute(), r, l, out, nullptr);
  EXPECT_EQ(e.seen.timeout, std::chrono::milliseconds(10000)) << "capped";
  r.timeout = std::chrono::milliseconds(0);
  run_query(e.execute(), r, l, out, nullptr);
  EXPECT_EQ(e.seen.timeout, std::chrono::milliseconds(10000)) << "none is capped too";
}

TEST(QueryRunnerTest, AnMqttAnswerOverItsCapIsAnError) {
  FakeEngine e;
  e.chunks = 100;
  e.rows = 2048;
  Recorder out;
  QueryLimits l;
  l.may_stream = false;
  l.max_whole = 100000;
  run_query(e.execute(), req("csv"), l, out, nullptr);
  EXPECT_TRUE(e.stopped);
  EXPECT_LT(e.chunks_sent, 100);
  EXPECT_EQ(out.status, 400);
  EXPECT_THAT(out.body, HasSubstr("larger than 100000 bytes"));
}

TEST(QueryRunnerTest, AReceiverThatGoesAwayStopsTheQuery) {
  FakeEngine e;
  e.chunks = 100;
  e.rows = 2048;
  Recorder out;
  out.accept_bytes = 50000;
  run_query(e.execute(), req("csv"), QueryLimits{}, out, nullptr);
  EXPECT_TRUE(e.stopped);
  EXPECT_LT(e.chunks_sent, 100);
}

}  // namespace
}  // namespace mqbase::http
