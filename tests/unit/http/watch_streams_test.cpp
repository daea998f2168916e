// WatchStreams over real Tables (and their store), without sockets: the Answer is read as
// the connection would. Events and their filter, keep-alive comments on a quiet stream (a
// short interval here), a consumer that never reads is cut with an error event while the
// writes go on, a client that goes away and stop() take the watchers off the table.
#include "http/watch_streams.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "../store/store_test_util.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::http {
namespace {

namespace tb = store::tables;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kT0 = 1'700'000'000LL * tb::kNanosPerSecond;

struct WatchStreamsTest : ::testing::Test {
  store::test::TempDir dir;
  std::unique_ptr<tb::Tables> tables;
  std::unique_ptr<store::Store> store;

  WatchStreamsTest() {
    tb::TablesOptions to;
    to.dir = dir.path() + "/tables";
    to.maintenance_interval = std::chrono::hours(1);
    tables = tb::Tables::open(to);
    store::StoreOptions so = store::test::options_for(dir.path(), store::Durability::none);
    tb::Tables* t = tables.get();
    so.before_checkpoint = [t](store::Lsn covered) { return t->flush(covered); };
    store = store::Store::open(so, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) {
      t->replay(type, lsn, p);
    });
    tables->attach(*store);
    tb::Schema s;
    s.name = "sensors";
    s.columns = {{"time", tb::ColumnType::time},
                 {"device", tb::ColumnType::tag},
                 {"temp", tb::ColumnType::float64},
                 {"note", tb::ColumnType::varchar}};
    store::Lsn lsn;
    EXPECT_EQ(tables->create_table(s, false, &lsn), "");
  }
  ~WatchStreamsTest() override {
    tables->close();
    store->close();
  }

  // Rows (device, seconds after kT0, temp); a note on none of them.
  void put(const std::vector<std::tuple<std::string, int, double>>& rows, size_t note_bytes = 0) {
    auto schema = tables->schema("sensors");
    tb::RowBatch b;
    b.table_id = schema->id;
    b.columns = static_cast<uint32_t>(schema->columns.size());
    b.fields.resize(2);
    b.fields[0].type = tb::ColumnType::float64;
    b.fields[1].type = tb::ColumnType::varchar;
    for (auto& [device, sec, temp] : rows) {
      b.series.push_back({device});
      b.row_series.push_back(static_cast<uint32_t>(b.series.size() - 1));
      b.times.push_back(kT0 + sec * tb::kNanosPerSecond);
      b.fields[0].push_f(temp);
      if (note_bytes) b.fields[1].push_s(std::string(note_bytes, 'n'));
      else b.fields[1].push_null();
    }
    ASSERT_GT(tables->write(b).lsn, 0u);
  }

  static Request get(const std::string& query) {
    Request r;
    r.method = "GET";
    r.peer = "test";
    std::string error;
    EXPECT_TRUE(r.query.parse(query, &error)) << error;
    return r;
  }
};

// What a connection would write, taken from the Answer.
struct Reader {
  std::shared_ptr<Answer> answer = std::make_shared<Answer>([] {});
  Answer::Head head;
  std::string text;
  bool ended = false;

  // Takes what is there now.
  void take() {
    std::string bytes;
    Answer::Head h;
    while (true) {
      switch (answer->next(&h, &bytes)) {
        case Answer::Step::stream: head = h; continue;
        case Answer::Step::bytes: text += bytes; continue;
        case Answer::Step::end: ended = true; return;
        default: return;
      }
    }
  }
  // Waits until the text holds `what`.
  bool wait_for(std::string_view what, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (true) {
      take();
      if (text.find(what) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
};

TEST_F(WatchStreamsTest, RowsOfTheFilteredSeriesArriveAsEvents) {
  WatchStreams watches(tables.get());
  Reader r;
  ASSERT_FALSE(watches.start("sensors", get("device=d1&device=d3&timeformat=s"), r.answer));
  r.take();
  EXPECT_EQ(r.head.content_type, "text/event-stream");
  EXPECT_THAT(r.head.headers, ::testing::Contains(std::pair<std::string, std::string>("Cache-Control", "no-cache")));
  EXPECT_EQ(r.text, ": watching sensors\n\n");
  put({{"d1", 1, 21.5}, {"d2", 2, 20}, {"d3", 3, 19.25}});
  put({{"d2", 4, 1}});
  put({{"d1", 5, 22}});
  r.take();
  EXPECT_EQ(r.text, ": watching sensors\n\n"
                    "data: {\"time\":1700000001,\"device\":\"d1\",\"temp\":21.5,\"note\":null}\n\n"
                    "data: {\"time\":1700000003,\"device\":\"d3\",\"temp\":19.25,\"note\":null}\n\n"
                    "data: {\"time\":1700000005,\"device\":\"d1\",\"temp\":22,\"note\":null}\n\n");
  EXPECT_EQ(watches.stats().rows, 3u);
  EXPECT_EQ(watches.stats().active, 1u);
}

TEST_F(WatchStreamsTest, BadRequestsAreAnsweredAtOnce) {
  WatchStreams watches(tables.get());
  struct Case {
    std::string table, query;
    int status;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"nope", "", 404, "table 'nope' does not exist"},
           {"sensors", "temp=1", 400, "column 'temp' of table 'sensors' is not a tag"},
           {"sensors", "colour=red", 400, "column 'colour' does not exist in table 'sensors' (its tags: device)"},
           {"sensors", "format=csv", 400, "format 'csv' is not available here"},
           {"sensors", "tz=Mars/Olympus", 400, "Mars/Olympus"},
       }) {
    Reader r;
    auto res = watches.start(c.table, get(c.query), r.answer);
    ASSERT_TRUE(res) << c.query;
    EXPECT_EQ(res->status, c.status) << c.query;
    EXPECT_THAT(res->body, HasSubstr(c.reason));
  }
  EXPECT_EQ(tables->watchers(), 0u);
  WatchStreams none(nullptr);
  Reader r;
  auto res = none.start("sensors", get(""), r.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
}

TEST_F(WatchStreamsTest, AQuietStreamGetsKeepAliveComments) {
  WatchStreams watches(tables.get(), std::chrono::milliseconds(50));
  Reader r;
  ASSERT_FALSE(watches.start("sensors", get(""), r.answer));
  ASSERT_TRUE(r.wait_for(": keep-alive\n\n"));
  EXPECT_THAT(r.text, StartsWith(": watching sensors\n\n: keep-alive\n\n"));
}

TEST_F(WatchStreamsTest, AConsumerThatNeverReadsIsCutAndTheWritesGoOn) {
  WatchStreams watches(tables.get(), WatchStreams::kKeepAlive, 64 << 10);
  Reader slow, fast;
  ASSERT_FALSE(watches.start("sensors", get(""), slow.answer));
  ASSERT_FALSE(watches.start("sensors", get(""), fast.answer));
  auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) {
    put({{"d1", i, 1}}, 4000);
    fast.take();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5));
  slow.take();
  EXPECT_TRUE(slow.ended);
  EXPECT_TRUE(slow.answer->closes_connection());
  EXPECT_THAT(slow.text, HasSubstr("event: error\ndata: {\"reason\":\"watcher too slow: 1 rows dropped\"}\n\n"));
  EXPECT_FALSE(fast.ended);
  EXPECT_EQ(std::count(fast.text.begin(), fast.text.end(), '\n'), 2 + 50 * 2);
  EXPECT_EQ(watches.stats().cut_slow, 1u);
  EXPECT_EQ(tables->watchers(), 1u);
}

TEST_F(WatchStreamsTest, AClientThatGoesAwayAndStopTakeTheWatchersOff) {
  WatchStreams watches(tables.get());
  Reader gone, stays;
  ASSERT_FALSE(watches.start("sensors", get(""), gone.answer));
  ASSERT_FALSE(watches.start("sensors", get(""), stays.answer));
  EXPECT_EQ(tables->watchers(), 2u);
  gone.answer->cancel();  // the connection closed
  EXPECT_TRUE(store::test::eventually([&] { return tables->watchers() == 1; }));
  EXPECT_EQ(watches.stats().active, 1u);
  watches.stop();
  EXPECT_EQ(tables->watchers(), 0u);
  stays.take();
  EXPECT_TRUE(stays.ended);
  EXPECT_THAT(stays.text, HasSubstr(": server stopping\n\n"));
  Reader late;
  auto res = watches.start("sensors", get(""), late.answer);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
}

TEST_F(WatchStreamsTest, DropTableEndsTheStreamWithAnError) {
  WatchStreams watches(tables.get());
  Reader r;
  ASSERT_FALSE(watches.start("sensors", get(""), r.answer));
  store::Lsn lsn;
  ASSERT_EQ(tables->drop_table("sensors", &lsn), "");
  r.take();
  EXPECT_TRUE(r.ended);
  EXPECT_THAT(r.text, HasSubstr("event: error\ndata: {\"reason\":\"table 'sensors' was dropped\"}\n\n"));
  EXPECT_EQ(tables->watchers(), 0u);
}

}  // namespace
}  // namespace mqbase::http
