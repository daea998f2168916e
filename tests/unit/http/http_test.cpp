// src/http's plain pieces: url.h, listen_address.h, query_request.h, gzip_encoder.h,
// query_pool.h, answer.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <thread>

#include "http/answer.h"
#include "http/gzip_encoder.h"
#include "http/listen_address.h"
#include "http/query_pool.h"
#include "http/query_request.h"
#include "http/url.h"
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

// --- url ----------------------------------------------------------------------------------

TEST(UrlTest, PercentDecoding) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b+c%2Bd", true, &out));
  EXPECT_EQ(out, "a b c+d");
  EXPECT_TRUE(percent_decode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(percent_decode("%4", true, &out));
  EXPECT_FALSE(percent_decode("%zz", true, &out));
  EXPECT_FALSE(percent_decode("abc%", true, &out));
}

TEST(UrlTest, ParamsKeepOrderAndTheFirstValueWins) {
  Params p;
  std::string error;
  ASSERT_TRUE(p.parse("q=SELECT%201&format=csv&&flag&empty=&q=second", &error));
  EXPECT_EQ(*p.get("q"), "SELECT 1");
  EXPECT_EQ(*p.get("format"), "csv");
  EXPECT_EQ(*p.get("flag"), "");
  EXPECT_EQ(*p.get("empty"), "");
  EXPECT_EQ(p.get("none"), nullptr);
  EXPECT_EQ(p.all().size(), 5u);
  p.set("q", "x");
  EXPECT_EQ(*p.get("q"), "x");
  Params bad;
  EXPECT_FALSE(bad.parse("a=%zz", &error));
  EXPECT_THAT(error, HasSubstr("'a'"));
}

TEST(UrlTest, SplitTarget) {
  Target t;
  ASSERT_TRUE(split_target("/db/write/t%31?format=csv#frag", &t));
  EXPECT_EQ(t.path, "/db/write/t1");
  EXPECT_EQ(t.query, "format=csv");
  ASSERT_TRUE(split_target("http://host:8080/health?x=1", &t));
  EXPECT_EQ(t.path, "/health");
  EXPECT_EQ(t.query, "x=1");
  EXPECT_FALSE(split_target("health", &t));
  EXPECT_FALSE(split_target("/%zz", &t));
  EXPECT_FALSE(split_target("", &t));
}

TEST(UrlTest, Booleans) {
  EXPECT_EQ(parse_bool("TRUE"), true);
  EXPECT_EQ(parse_bool("on"), true);
  EXPECT_EQ(parse_bool("0"), false);
  EXPECT_EQ(parse_bool(""), false);
  EXPECT_EQ(parse_bool("maybe"), std::nullopt);
}

// --- listen addresses -----------------------------------------------------------------------

TEST(ListenAddressTest, Forms) {
  ListenAddress a;
  std::string error;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:8080", &a, &error));
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  ASSERT_TRUE(parse_listen_address("[::1]:0", &a, &error));
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 0);
  EXPECT_FALSE(parse_listen_address("localhost:80", &a, &error));
  EXPECT_THAT(error, HasSubstr("not an IP address"));
  EXPECT_FALSE(parse_listen_address("::1:80", &a, &error));
  EXPECT_THAT(error, HasSubstr("brackets"));
  EXPECT_FALSE(parse_listen_address("1.2.3.4:70000", &a, &error));
  EXPECT_THAT(error, HasSubstr("65535"));
  EXPECT_FALSE(parse_listen_address("1.2.3.4", &a, &error));
  EXPECT_THAT(error, HasSubstr("host:port"));
  EXPECT_FALSE(parse_listen_address("1.2.3.4:", &a, &error));
}

// --- query requests -------------------------------------------------------------------------

TEST(QueryRequestTest, FromParams) {
  Params p;
  std::string error;
  ASSERT_TRUE(p.parse("q=SELECT+%241&format=csv&timeformat=ms&tz=Asia%2FSeoul&heading=false&precision=3"
                      "&rownum=true&timeout=1500&compress=gzip&params=%5B1%2C2.5%2C%22x%22%2Ctrue%2Cnull%5D",
                      &error));
  QueryRequest r;
  ASSERT_TRUE(query_request_from_params(p, &r, &error)) << error;
  EXPECT_EQ(r.sql, "SELECT $1");
  EXPECT_EQ(r.format.format, "csv");
  EXPECT_EQ(r.format.timeformat, "ms");
  EXPECT_EQ(r.format.tz, "Asia/Seoul");
  EXPECT_EQ(r.format.heading, false);
  EXPECT_EQ(r.format.precision, 3);
  EXPECT_EQ(r.format.rownum, true);
  EXPECT_EQ(r.timeout, std::chrono::milliseconds(1500));
  EXPECT_TRUE(r.gzip);
  ASSERT_EQ(r.params.size(), 5u);
  EXPECT_EQ(r.params[0], query::Value::of_int(1));
  EXPECT_EQ(r.params[1], query::Value::of_float(2.5));
  EXPECT_EQ(r.params[2], query::Value::of_text("x"));
  EXPECT_EQ(r.params[3], query::Value::of_bool(true));
  EXPECT_TRUE(r.params[4].null);
}

TEST(QueryRequestTest, BadParams) {
  auto error_of = [](const std::string& text) {
    Params p;
    std::string error;
    p.parse(text, &error);
    QueryRequest r;
    EXPECT_FALSE(query_request_from_params(p, &r, &error)) << text;
    return error;
  };
  EXPECT_THAT(error_of("heading=maybe"), HasSubstr("heading"));
  EXPECT_THAT(error_of("precision=x"), HasSubstr("precision"));
  EXPECT_THAT(error_of("precision=99"), HasSubstr("precision"));
  EXPECT_THAT(error_of("timeout=-1"), HasSubstr("timeout"));
  EXPECT_THAT(error_of("compress=br"), HasSubstr("compress"));
  EXPECT_THAT(error_of("params=%7B%7D"), HasSubstr("array"));
  EXPECT_THAT(error_of("params=%5B1"), HasSubstr("params"));
}

TEST(QueryRequestTest, FromJsonOverridesTheUrl) {
  QueryRequest r;
  r.format.format = "csv";
  r.sql = "from the url";
  std::string error;
  ASSERT_TRUE(query_request_from_json(
      R"({"q":"SELECT 1","format":"ndjson","heading":false,"rownum":"true","precision":2,"timeout":"100",
          "params":[9007199254740993,{"a":1},[1,2]],"reply":"r/t","compress":"gzip","unknown":1})",
      &r, &error))
      << error;
  EXPECT_EQ(r.sql, "SELECT 1");
  EXPECT_EQ(r.format.format, "ndjson");
  EXPECT_EQ(r.format.heading, false);
  EXPECT_EQ(r.format.rownum, true);
  EXPECT_EQ(r.format.precision, 2);
  EXPECT_EQ(r.timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(r.reply, "r/t");
  EXPECT_TRUE(r.gzip);
  ASSERT_EQ(r.params.size(), 3u);
  EXPECT_EQ(r.params[0], query::Value::of_int(9007199254740993));
  EXPECT_EQ(r.params[1], query::Value::of_text("{\"a\":1}", query::Type::json));
  EXPECT_EQ(r.params[2], query::Value::of_text("[1,2]", query::Type::json));
  // params as a string holding the array, as a form sends it
  ASSERT_TRUE(query_request_from_json(R"({"params":"[\"a\"]"})", &r, &error)) << error;
  EXPECT_EQ(r.params, std::vector<query::Value>{query::Value::of_text("a")});
}

TEST(QueryRequestTest, BadJson) {
  QueryRequest r;
  std::string error;
  EXPECT_FALSE(query_request_from_json("{not json", &r, &error));
  EXPECT_THAT(error, HasSubstr("not JSON"));
  EXPECT_FALSE(query_request_from_json("[1]", &r, &error));
  EXPECT_THAT(error, HasSubstr("JSON object"));
  EXPECT_FALSE(query_request_from_json(R"({"q":1})", &r, &error));
  EXPECT_THAT(error, HasSubstr("'q' must be a string"));
  EXPECT_FALSE(query_request_from_json(R"({"params":1})", &r, &error));
  EXPECT_THAT(error, HasSubstr("array"));
}

// --- gzip -----------------------------------------------------------------------------------

TEST(GzipEncoderTest, StreamedPiecesInflateToTheWhole) {
  std::string whole, zipped;
  GzipEncoder e;
  for (int i = 0; i < 20000; ++i) {
    std::string piece = "row " + std::to_string(i) + ",21.5\n";
    whole += piece;
    e.write(piece, &zipped);
  }
  e.finish(&zipped);
  EXPECT_LT(zipped.size(), whole.size() / 3);
  EXPECT_EQ(gunzip(zipped), whole);
  EXPECT_EQ(gunzip(GzipEncoder::compress("")), "");
  EXPECT_EQ(gunzip(GzipEncoder::compress("abc")), "abc");
}

// --- the query pool ---------------------------------------------------------------------------

TEST(QueryPoolTest, RefusesWhenEveryThreadIsBusyAndTheQueueFull) {
  QueryPool pool("test-pool", 2, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> started{0}, done{0};
  auto blocker = [&] {
    ++started;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
    ++done;
  };
  ASSERT_TRUE(pool.try_submit(blocker));
  ASSERT_TRUE(pool.try_submit(blocker));
  while (started < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(pool.try_submit(blocker)) << "one may wait";
  EXPECT_FALSE(pool.try_submit(blocker)) << "the queue is full";
  auto st = pool.stats();
  EXPECT_EQ(st.running, 2u);
  EXPECT_EQ(st.queued, 1u);
  EXPECT_EQ(st.rejected, 1u);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  while (done < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(pool.try_submit([] {}));
}

TEST(QueryPoolTest, StopCancelsRunningJobsAndDropsQueuedOnes) {
  QueryPool pool("test-pool", 1, 4);
  auto running = std::make_shared<std::atomic<bool>>(false);
  auto queued = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> in{false}, queued_ran{false};
  ASSERT_TRUE(pool.try_submit(
      [&, running] {
        in = true;
        while (!running->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      },
      running));
  while (!in) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(pool.try_submit([&] { queued_ran = true; }, queued));
  pool.stop();
  EXPECT_TRUE(running->load());
  EXPECT_TRUE(queued->load());
  EXPECT_FALSE(queued_ran);
  EXPECT_FALSE(pool.try_submit([] {}));
  pool.stop();  // idempotent
}

// --- the answer hand-off ----------------------------------------------------------------------

TEST(AnswerTest, WholeAnswer) {
  int wakes = 0;
  Answer a([&] { ++wakes; });
  Answer::Head head;
  std::string bytes;
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::wait);
  a.whole(400, "application/json", false, "{}");
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::whole);
  EXPECT_EQ(head.status, 400);
  EXPECT_EQ(bytes, "{}");
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::wait);
}

TEST(AnswerTest, StreamWithBackPressureAndCancel) {
  std::atomic<int> wakes{0};
  Answer a([&] { ++wakes; });
  a.stream_begin("text/csv", true);
  Answer::Head head;
  std::string bytes;
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::stream);
  EXPECT_TRUE(head.gzip);
  std::string big(Answer::kHighWater, 'x');
  EXPECT_TRUE(a.stream_bytes(big));
  // Over the high-water mark the producer waits until the consumer takes the bytes.
  std::atomic<bool> second{false};
  std::thread producer([&] {
    EXPECT_TRUE(a.stream_bytes("more"));
    second = true;
    EXPECT_TRUE(a.stream_bytes(big));
    EXPECT_FALSE(a.stream_bytes("blocked")) << "cancelled while waiting";
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(second);
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::bytes);
  EXPECT_EQ(bytes.size(), Answer::kHighWater);
  while (!second) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  a.cancel();
  producer.join();
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(a.flag()->load());
}

TEST(AnswerTest, StreamEndAndAbort) {
  Answer a(nullptr);
  Answer::Head head;
  std::string bytes;
  a.stream_begin("application/json", false);
  ASSERT_TRUE(a.stream_bytes("[1]"));
  a.stream_end();
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::stream);
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::bytes);
  EXPECT_EQ(bytes, "[1]");
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::end);
  EXPECT_EQ(a.next(&head, &bytes), Answer::Step::wait);
  Answer b(nullptr);
  b.stream_begin("text/csv", false);
  b.stream_abort("boom");
  EXPECT_EQ(b.next(&head, &bytes), Answer::Step::stream);
  EXPECT_EQ(b.next(&head, &bytes), Answer::Step::abort);
}

}  // namespace
}  // namespace mqbase::http
