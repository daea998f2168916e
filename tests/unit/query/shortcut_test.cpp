// The engine's shortcuts give the same answers as reading every row:
// - aggregates from block statistics (a block wholly in range adds its count/sum/min/max), and
// - the latest row per series (DISTINCT ON (tags) ... ORDER BY tags, time DESC reads only each
//   series' newest rows), and
// - groups that come one after another (keys of every tag and time buckets: each group put out
//   as the next begins, without a table of groups).
// Each query runs twice: as written (EXPLAIN shows the shortcut) and with a condition the scan
// cannot answer (`AND v IS NOT DISTINCT FROM v`, true for every row), which forces the row
// path. The data crosses every place rows live and every case the shortcuts must refuse:
// blocks on disk and in memory, heads, late rows in the overflow, duplicate times across
// blocks (keep_last), NaN, NULLs, large BIGINTs, ranges that cut blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <thread>

#include "query/engine.h"
#include "text_sink.h"
#include "store/store.h"
#include "store/tables.h"

namespace mqbase::query {
namespace {

namespace st = store::tables;
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1'704'067'200LL * kSec;  // 2024-01-01 UTC

class ShortcutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mqbase-shortcut-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    st::TablesOptions topts;
    topts.dir = dir_ + "/tables";
    topts.block_rows = 8;
    topts.compact_files = 2;  // compact() merges a partition of three files
    topts.maintenance_interval = std::chrono::hours(1);  // retention and compaction when a test asks
    tables_ = st::Tables::open(topts);
    store::StoreOptions sopts;
    sopts.dir = dir_;
    sopts.durability = store::Durability::batch;  // a log, so that checkpoint() writes block files
    sopts.progress_interval = std::chrono::milliseconds(0);
    st::Tables* t = tables_.get();
    sopts.before_checkpoint = [t](store::Lsn covered) { return t->flush(covered); };
    store_ = store::Store::open(sopts, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
    tables_->attach(*store_);
    st::Schema s;
    s.name = "m";
    s.columns = {{"time", st::ColumnType::time}, {"dev", st::ColumnType::tag}, {"site", st::ColumnType::tag},
                 {"v", st::ColumnType::float64}, {"n", st::ColumnType::int64}, {"note", st::ColumnType::varchar}};
    s.options.ooo_window_ns = 0;  // sealed at once: late rows go to the overflow
    store::Lsn lsn;
    ASSERT_EQ(tables_->create_table(s, false, &lsn), "");
    engine_ = std::make_unique<Engine>(tables_.get(), nullptr);
  }
  void TearDown() override {
    engine_.reset();
    tables_->close();
    store_->close();
    std::filesystem::remove_all(dir_);
  }

  // Rows of one device at site, times in seconds after kT0.
  void write(const std::string& dev, const std::string& site, const std::vector<int64_t>& secs,
             const std::vector<double>& v, const std::vector<int64_t>& n) {
    auto schema = tables_->schema("m");
    st::RowBatch b;
    b.table_id = schema->id;
    b.columns = static_cast<uint32_t>(schema->columns.size());
    b.series.push_back({dev, site});
    b.fields.resize(3);
    b.fields[0].type = st::ColumnType::float64;
    b.fields[1].type = st::ColumnType::int64;
    b.fields[2].type = st::ColumnType::varchar;
    for (size_t k = 0; k < secs.size(); ++k) {
      b.row_series.push_back(0);
      b.times.push_back(kT0 + secs[k] * kSec);
      if (std::isinf(v[k])) b.fields[0].push_null();  // +inf in the input means NULL
      else b.fields[0].push_f(v[k]);
      if (n[k] == INT64_MIN) b.fields[1].push_null();
      else b.fields[1].push_i(n[k]);
      b.fields[2].push_s("r" + std::to_string(secs[k]));
    }
    ASSERT_NE(tables_->write(b).lsn, 0u);
  }

  std::string run(const std::string& sql) {
    test::Text t;
    QueryStatus st = engine_->execute(sql, {}, t);
    EXPECT_TRUE(st.ok) << sql << ": " << st.describe();
    return t.out;
  }
  std::string plan(const std::string& sql) { return run("EXPLAIN " + sql); }

  // `sql` has a WHERE clause; the row path adds a condition the scan cannot take.
  void same(const std::string& sql, const std::string& shortcut) {
    std::string forced = sql;
    auto at = forced.find(" WHERE ");
    ASSERT_NE(at, std::string::npos);
    forced.insert(at + 7, "v IS NOT DISTINCT FROM v AND ");
    EXPECT_NE(plan(sql).find(shortcut), std::string::npos) << plan(sql);
    EXPECT_EQ(plan(forced).find(shortcut), std::string::npos) << plan(forced);
    EXPECT_EQ(run(sql), run(forced)) << sql;
  }

  std::string dir_;
  std::unique_ptr<st::Tables> tables_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(ShortcutTest, AggregatesFromBlockStatisticsMatchTheRows) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), null = INFINITY;
  std::vector<int64_t> secs, n;
  std::vector<double> v;
  for (int k = 0; k < 40; ++k) {
    secs.push_back(k * 10);
    v.push_back(k % 7 == 3 ? null : k * 0.5 - 4);
    n.push_back(k % 5 == 1 ? INT64_MIN : k - 10);
  }
  write("a", "x", secs, v, n);
  write("b", "x", secs, v, n);
  ASSERT_TRUE(store_->checkpoint());  // blocks on disk
  // b: a block with a NaN (the statistics must refuse it: NaN sorts above every value).
  write("b", "y", {500, 510, 520, 530, 540, 550, 560, 570}, {1, nan, 2, 3, 4, 5, 6, 7},
        {1LL << 40, 1LL << 41, -5, 0, 1, 2, 3, 4});
  // a: more rows (memory blocks and a head), a duplicate time of a sealed row (keep_last:
  // the block holding the old row overlaps the new one), and a late row (overflow).
  std::vector<int64_t> s2;
  std::vector<double> v2;
  std::vector<int64_t> n2;
  for (int k = 0; k < 13; ++k) {
    s2.push_back(1000 + k * 10);
    v2.push_back(k * 1.25);
    n2.push_back(k);
  }
  write("a", "x", s2, v2, n2);
  write("a", "x", {100}, {99.5}, {77});  // duplicate of a row on disk
  write("a", "x", {5}, {-3}, {3});       // late: overflow

  // A condition on tags alone ("dev <> 'b'", "site LIKE 'x%'") is decided once per series and
  // keeps the shortcut.
  for (std::string range : {"time >= '2024-01-01' ", "time >= '2024-01-01 00:00:35+00' AND time < '2024-01-01 00:17:00+00' ",
                            "dev <> 'zz' AND site LIKE 'x%' AND time >= '2024-01-01' ", "dev <> 'b' AND time >= '2024-01-01' "}) {
    same("SELECT dev, count(*), count(v), sum(v), avg(v), min(v), max(v), sum(n), min(n), max(n), avg(n) FROM m WHERE " + range +
             "GROUP BY dev ORDER BY dev",
         "block statistics");
    same("SELECT count(*), sum(v), min(n) FROM m WHERE " + range + "AND dev IN ('a', 'b')", "block statistics");
    same("SELECT site, dev, max(v) FROM m WHERE " + range + "GROUP BY site, dev ORDER BY 1, 2", "block statistics");
  }
}

// Kernels write their values over spare buffers of the thread, not zeroed (query::recycle):
// the answers are those of a thread that has none. The queries compute over NULLs (v + 1, n * 2,
// comparisons), in chunks of several sizes, after other queries filled the spares with other
// values (time buckets, sums).
TEST_F(ShortcutTest, AnswersDoNotDependOnTheSpareBuffersOfTheThread) {
  const double null = INFINITY;
  for (int d = 0; d < 3; ++d) {
    std::vector<int64_t> secs, n;
    std::vector<double> v;
    for (int k = 0; k < 700 + 900 * d; ++k) {  // series of different lengths: different chunks
      secs.push_back(k * 7);
      v.push_back(k % 5 == 2 ? null : (k % 13) * 1.5 - 6);
      n.push_back(k % 3 == 1 ? INT64_MIN : 1000000 + k * 37);
    }
    write("d" + std::to_string(d), "s", secs, v, n);
  }
  ASSERT_TRUE(store_->checkpoint());
  const std::vector<std::string> queries = {
      "SELECT dev, time_bucket('10 minutes', time) AS b, count(*), sum(v + 1), min(n * 2), count(v > 0 OR NULL)"
      " FROM m GROUP BY dev, b ORDER BY dev, b",
      "SELECT dev, count(*) FROM m WHERE v * 2 > 1 OR n - 1000000 < 100 GROUP BY dev ORDER BY dev",
      "SELECT dev, sum(CASE WHEN v IS NULL THEN 1 ELSE 0 END), avg(v - 0.5) FILTER (WHERE n % 2 = 0) FROM m"
      " WHERE time >= '2024-01-01' GROUP BY dev ORDER BY dev"};
  std::vector<std::string> fresh(queries.size());
  std::thread([&] {  // a thread of its own: no spares
    for (size_t q = 0; q < queries.size(); ++q) fresh[q] = run(queries[q]);
  }).join();
  for (int round = 0; round < 2; ++round)
    for (size_t q = 0; q < queries.size(); ++q) {
      run("SELECT time_bucket('1 second', time), sum(n + 7), count(v < 1e9) FROM m GROUP BY 1");  // other values
      EXPECT_EQ(run(queries[q]), fresh[q]) << queries[q];
    }
  EXPECT_NE(fresh[0].find("d2"), std::string::npos);
}

TEST_F(ShortcutTest, LatestRowPerSeriesMatchesTheRows) {
  write("a", "x", {0, 10, 20, 30, 40, 50, 60, 70, 80}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  write("b", "x", {0, 10, 20}, {1, 2, 3}, {1, 2, 3});
  write("b", "y", {5, 15}, {1, INFINITY}, {INT64_MIN, 2});
  ASSERT_TRUE(store_->checkpoint());
  write("a", "x", {90, 100}, {10, 11}, {10, 11});
  write("a", "x", {100}, {12}, {12});  // the newest time, written again: keep_last
  write("c", "z", {7}, {1}, {1});
  write("b", "x", {1}, {-1}, {-1});    // late
  for (std::string where : {"time >= '2024-01-01' ", "time < '2024-01-01 00:01:35+00' ",
                            "time >= '2024-01-01' AND dev IN ('a', 'b') ", "dev <> '' AND site <> 'y' AND time >= '2024-01-01' "}) {
    same("SELECT DISTINCT ON (dev) dev, time, v, n, note FROM m WHERE " + where + "ORDER BY dev, time DESC", "latest row per series");
    same("SELECT DISTINCT ON (dev, site) dev, site, time, v FROM m WHERE " + where + "ORDER BY dev, site, time DESC",
         "latest row per series");
  }
}

// The latest-row path remembers each series' newest block on disk until the table's files
// change: a flush that writes a newer block, a compaction that replaces the files and a
// DELETE that drops them must each be seen by the next query.
TEST_F(ShortcutTest, LatestRowPerSeriesFollowsTheFiles) {
  const std::string q = "SELECT DISTINCT ON (dev) dev, time, v FROM m WHERE time >= '2024-01-01' ORDER BY dev, time DESC";
  auto latest = [&] {
    EXPECT_NE(plan(q).find("latest row per series"), std::string::npos);
    return run(q);
  };
  write("a", "x", {0, 10, 20, 30, 40, 50, 60, 70, 80}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  write("b", "x", {0, 10}, {1, 2}, {1, 2});
  ASSERT_TRUE(store_->checkpoint());
  EXPECT_EQ(latest(), "dev|time|v|\na|1704067280000000000|9|\nb|1704067210000000000|2|\n");
  // Newer rows of a flushed into a file of their own; b's newest block is unchanged.
  write("a", "x", {90, 100}, {10, 11}, {10, 11});
  ASSERT_TRUE(store_->checkpoint());
  EXPECT_EQ(latest(), "dev|time|v|\na|1704067300000000000|11|\nb|1704067210000000000|2|\n");
  // Another file, then every file of the partition merged into one: the blocks the series
  // remembered are gone.
  write("b", "y", {30}, {7}, {7});
  ASSERT_TRUE(store_->checkpoint());
  const std::string before = latest();
  EXPECT_GT(tables_->compact(), 0u);
  EXPECT_EQ(latest(), before);
  EXPECT_EQ(before, "dev|time|v|\na|1704067300000000000|11|\nb|1704067230000000000|7|\n");
  // A DELETE before a's newest rows: b's rows and a's older ones are gone from the answer.
  run("DELETE FROM m WHERE time < '2024-01-01 00:01:30+00'");
  EXPECT_EQ(latest(), "dev|time|v|\na|1704067300000000000|11|\n");
  // The row path agrees throughout.
  EXPECT_EQ(run(q), run("SELECT DISTINCT ON (dev) dev, time, v FROM m WHERE v IS NOT DISTINCT FROM v AND time >= '2024-01-01' "
                        "ORDER BY dev, time DESC"));
}


// Series with few rows share chunks (Binder::scan): every row comes out once, in series order
// and time order within a series, with its own tags and NULLs, beside series long enough to
// go in chunks of their own.
TEST_F(ShortcutTest, SmallAndLargeSeriesComeOutWhole) {
  struct Row {
    std::string dev, site;
    int64_t sec;
    double v;
    int64_t n;
  };
  std::vector<Row> expected;
  auto add = [&](const std::string& dev, const std::string& site, int count, int nulls_every) {
    std::vector<int64_t> secs, n;
    std::vector<double> v;
    for (int k = 0; k < count; ++k) {
      secs.push_back(k * 10 + 1);
      v.push_back(nulls_every && k % nulls_every == 0 ? INFINITY : k * 0.25);
      n.push_back(nulls_every && k % nulls_every == 1 ? INT64_MIN : k);
      expected.push_back({dev, site, secs.back(), v.back(), n.back()});
    }
    write(dev, site, secs, v, n);
  };
  add("a", "x", 1, 0);
  add("b", "x", 100, 7);  // past the small-series bound, in blocks and a head
  add("c", "y", 3, 2);
  add("d", "x", 1, 1);
  add("e", "z", 70, 0);
  add("f", "x", 2, 0);
  ASSERT_TRUE(store_->checkpoint());
  std::string want = "dev|site|time|v|n|note|\n";
  for (const Row& r : expected) {
    char v[40];
    std::snprintf(v, sizeof v, "%.9g", r.v);
    want += r.dev + "|" + r.site + "|" + std::to_string(kT0 + r.sec * kSec) + "|" + (std::isinf(r.v) ? "NULL" : v) + "|" +
            (r.n == INT64_MIN ? "NULL" : std::to_string(r.n)) + "|r" + std::to_string(r.sec) + "|\n";
  }
  EXPECT_EQ(run("SELECT dev, site, time, v, n, note FROM m"), want);
  // Only some columns read (the others NULL constants in the shared chunk), a filter on them.
  int64_t count = 0, with_v = 0, sum_n = 0;
  for (const Row& r : expected)
    if (r.dev != "b") {
      ++count;
      with_v += !std::isinf(r.v);
      sum_n += r.n == INT64_MIN ? 0 : r.n;
    }
  EXPECT_EQ(run("SELECT count(*), count(v), sum(n) FROM m WHERE dev <> 'b' AND (n IS NULL OR n >= 0)"),
            "count|count|sum|\n" + std::to_string(count) + "|" + std::to_string(with_v) + "|" + std::to_string(sum_n) + "|\n");
  EXPECT_EQ(run("SELECT dev FROM m LIMIT 3"), "dev|\na|\nb|\nb|\n");
}


// Rows whose group keys are those of the row before join its group without a lookup
// (Aggregate::same_keys): groups of runs (a time bucket), of keys that change every row, and
// of NULL keys among values, each counted against the input.
TEST_F(ShortcutTest, GroupsOfRunsOfEqualKeysMatchTheRows) {
  std::vector<int64_t> secs, n;
  std::vector<double> v;
  for (int k = 0; k < 300; ++k) {
    secs.push_back(k * 10);
    v.push_back(k % 11 == 0 ? INFINITY : k * 0.5);
    n.push_back(k % 13 < 4 ? INT64_MIN : k / 20);  // runs of NULL between runs of values
  }
  write("a", "x", secs, v, n);
  write("b", "x", secs, v, n);
  ASSERT_TRUE(store_->checkpoint());
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, double>> by_minute;  // (dev, minute) -> count, sum
  std::map<std::string, int64_t> by_n;                                            // n ("NULL") -> count
  std::map<int, int64_t> by_high;  // v > 75: -1 NULL, 0 false, 1 true
  for (std::string dev : {"a", "b"})
    for (size_t k = 0; k < secs.size(); ++k) {
      auto& g = by_minute[{dev, secs[k] / 60}];
      ++g.first;
      if (!std::isinf(v[k])) g.second += v[k];
      ++by_n[n[k] == INT64_MIN ? "NULL" : std::to_string(n[k])];
      ++by_high[std::isinf(v[k]) ? -1 : v[k] > 75];
    }
  std::string want = "dev|m|count|sum|\n";
  for (auto& [key, g] : by_minute) {
    char sum[40];
    std::snprintf(sum, sizeof sum, "%.9g", g.second);
    want += key.first + "|" + std::to_string(kT0 + key.second * 60 * kSec) + "|" + std::to_string(g.first) + "|" + sum + "|\n";
  }
  EXPECT_EQ(run("SELECT dev, time_bucket('1 minute', time) AS m, count(*), sum(coalesce(v, 0)) FROM m "
                "WHERE v IS NOT DISTINCT FROM v GROUP BY dev, m ORDER BY dev, m"),
            want);
  want = "n|count|\n";
  std::map<int64_t, int64_t> numeric;
  for (auto& [key, c] : by_n)
    if (key != "NULL") numeric[std::stoll(key)] = c;
  want += "NULL|" + std::to_string(by_n["NULL"]) + "|\n";
  for (auto& [key, c] : numeric) want += std::to_string(key) + "|" + std::to_string(c) + "|\n";
  EXPECT_EQ(run("SELECT n, count(*) FROM m GROUP BY n ORDER BY n NULLS FIRST"), want);
  EXPECT_EQ(run("SELECT v > 75 AS high, count(*) FROM m GROUP BY high ORDER BY high NULLS FIRST"),
            "high|count|\nNULL|" + std::to_string(by_high[-1]) + "|\n0|" + std::to_string(by_high[0]) + "|\n1|" +
                std::to_string(by_high[1]) + "|\n");
  // Two and three time buckets whose edges fall on different rows (runs found by comparing two
  // integer keys in one pass, or more in a pass each), through the row path. Series c is
  // written twice over the same times: its blocks overlap, so its rows come merged, in chunks
  // of one series (its tag a constant), as a's and b's blocks of 8 rows do not.
  write("c", "x", secs, v, n);
  write("c", "x", secs, v, n);
  for (const std::vector<int64_t>& widths : {std::vector<int64_t>{60, 150}, std::vector<int64_t>{60, 150, 420}}) {
    std::map<std::pair<std::string, std::vector<int64_t>>, int64_t> groups;  // (dev, buckets) -> count
    for (std::string dev : {"a", "b", "c"})
      for (int64_t sec : secs) {
        std::vector<int64_t> key;
        for (int64_t w : widths) key.push_back(sec / w * w);
        ++groups[{dev, key}];
      }
    std::string sql = "SELECT dev", by = "dev";
    want = "dev";
    for (size_t k = 0; k < widths.size(); ++k) {
      const std::string b = "b" + std::to_string(k);
      sql += ", time_bucket('" + std::to_string(widths[k]) + " seconds', time) AS " + b;
      by += ", " + b;
      want += "|" + b;
    }
    sql += ", count(*) FROM m WHERE v IS NOT DISTINCT FROM v GROUP BY " + by + " ORDER BY " + by;
    want += "|count|\n";
    for (auto& [key, c] : groups) {
      want += key.first;
      for (int64_t b : key.second) want += "|" + std::to_string(kT0 + b * kSec);
      want += "|" + std::to_string(c) + "|\n";
    }
    EXPECT_EQ(run(sql), want) << sql;
  }
}

// Keys of every tag and a time bucket: a table scan gives each group's rows together, so the
// aggregate puts each group out as the next begins (EXPLAIN says so). The same query with a key
// the planner cannot see through (site || '' for site) takes the table of groups; both must
// agree row for row, in the same order, with and without ORDER BY: series long enough to cross
// chunks (a bucket cut by a chunk's end), small series gathered into one chunk, late rows merged
// from the overflow, NULLs, a HAVING, FILTER, DISTINCT and the order-sensitive aggregates.
TEST_F(ShortcutTest, GroupsThatComeOneAfterAnotherMatchTheTableOfGroups) {
  auto series = [&](const std::string& dev, const std::string& site, int count, int step, int offset) {
    std::vector<int64_t> secs, n;
    std::vector<double> v;
    for (int k = 0; k < count; ++k) {
      secs.push_back(offset + k * step);
      v.push_back(k % 17 == 3 ? INFINITY : std::sin(k) * 100);
      n.push_back(k % 23 == 5 ? INT64_MIN : k % 7);
    }
    write(dev, site, secs, v, n);
  };
  series("long", "x", 20000, 1, 0);   // 20,000 rows a second apart: crosses several chunks
  series("small1", "x", 5, 30, 0);    // small series share a chunk
  series("small2", "y", 3, 700, 0);
  series("mid", "y", 600, 13, 100);
  series("nosite", "", 50, 60, 0);
  ASSERT_TRUE(store_->checkpoint());
  series("long", "x", 300, 7, 3);     // late: into the overflow, merged into the long series' rows
  series("mid", "y", 40, 5, 9000);    // in the head
  const std::string aggs =
      "count(*), count(v), sum(v), avg(v), min(v), max(n), first(v, time), last(n, time), stddev(v), "
      "count(DISTINCT n), percentile_cont(0.5) WITHIN GROUP (ORDER BY v), count(*) FILTER (WHERE n > 2)";
  for (std::string bucket : {"time_bucket('1 minute', time)", "time_bucket('7 minutes', time)", "date_trunc('hour', time)",
                             "time"}) {
    for (std::string tail : {"", " ORDER BY b DESC, dev", " HAVING count(*) > 3"}) {
      std::string q = "SELECT " + bucket + " AS b, dev, site, " + aggs + " FROM m WHERE time >= '2024-01-01' GROUP BY 1, 2, 3" + tail;
      std::string hashed = q;
      hashed.replace(hashed.find("dev, site, count"), 9, "dev, site || '' AS site");
      EXPECT_NE(plan(q).find("groups one after another"), std::string::npos) << plan(q);
      EXPECT_EQ(plan(hashed).find("groups one after another"), std::string::npos) << plan(hashed);
      std::string got = run(q);
      EXPECT_EQ(got, run(hashed)) << q;
      if (bucket != "time" || tail.empty()) {  // (by time, a row a group: none has a count over 3)
        EXPECT_GT(std::count(got.begin(), got.end(), '\n'), 5) << q;
      }
    }
  }
  // Keys that are not every tag, or a bucket of a field: the table of groups.
  EXPECT_EQ(plan("SELECT dev, time_bucket('1 minute', time) AS b, count(*) FROM m GROUP BY dev, b").find("groups one after"),
            std::string::npos);
  EXPECT_EQ(plan("SELECT dev, site, n, count(*) FROM m GROUP BY dev, site, n").find("groups one after"), std::string::npos);
}


// A double column compared with a constant (`v > 1`, the usual filter) takes a path of its
// own (one IEEE comparison per row, two rows at a time), and a column only the condition reads
// is not cut to the rows kept. Each is checked against the general comparison (the constant on
// the left: `1 < v`) and against counts made here, with PostgreSQL's order: NaN equals NaN and
// is above every number, NULL is never true, -0 equals 0.
TEST_F(ShortcutTest, AColumnComparedWithAConstantFiltersAsTheGeneralComparison) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), null = INFINITY;
  const std::vector<double> values = {-1e300, -4, -0.0, 0, 0.5, 1, 1, 2.5, nan, null, 1e300, -1e308, 3, nan, 7};
  std::vector<int64_t> secs, n;
  std::vector<double> v;
  for (int k = 0; k < 45; ++k) {  // odd lengths: the last row of a chunk taken on its own
    secs.push_back(k * 10);
    v.push_back(values[static_cast<size_t>(k) % values.size()]);
    n.push_back(k);
  }
  write("a", "x", secs, v, n);
  ASSERT_TRUE(store_->checkpoint());
  write("b", "y", {0, 10, 20}, {nan, 1, null}, {100, 101, 102});  // a head
  std::vector<double> all = v;
  all.insert(all.end(), {nan, 1, null});
  std::vector<int64_t> alln = n;
  alln.insert(alln.end(), {100, 101, 102});
  const std::vector<std::pair<std::string, std::string>> ops = {{"=", "="}, {"<>", "<>"}, {"<", ">"},
                                                                {"<=", ">="}, {">", "<"}, {">=", "<="}};
  // PostgreSQL's float8 order, with NaN above all; NULL (inf here) is never true.
  auto holds = [](double x, const std::string& op, double c) {
    int cmp = std::isnan(x) ? 1 : x < c ? -1 : x > c ? 1 : 0;
    if (op == "=") return cmp == 0;
    if (op == "<>") return cmp != 0;
    if (op == "<") return cmp < 0;
    if (op == "<=") return cmp <= 0;
    if (op == ">") return cmp > 0;
    return cmp >= 0;
  };
  for (double c : {-4.0, -0.0, 0.0, 1.0, 2.75, 1e300, -1e300}) {
    char lit[64];
    std::snprintf(lit, sizeof lit, "%.17g::float8", c);
    for (const auto& [op, mirror] : ops) {
      int64_t count = 0, sum = 0;
      std::string kept = "n|note|\n";  // n ascends with k
      for (size_t k = 0; k < all.size(); ++k)
        if (!std::isinf(all[k]) && holds(all[k], op, c)) {  // inf: NULL (write())
          ++count;
          sum += alln[k];
          const int64_t sec = alln[k] < 100 ? alln[k] * 10 : (alln[k] - 100) * 10;
          kept += std::to_string(alln[k]) + "|r" + std::to_string(sec) + "|\n";
        }
      const std::string cond = "v " + op + " " + lit, general = std::string(lit) + " " + mirror + " v";
      SCOPED_TRACE(cond);
      const std::string agg = "SELECT count(*), sum(n) FROM m WHERE ";
      EXPECT_EQ(run(agg + cond), "count|sum|\n" + std::to_string(count) + "|" + (count ? std::to_string(sum) : "NULL") + "|\n");
      EXPECT_EQ(run(agg + cond), run(agg + general));
      EXPECT_EQ(run("SELECT n, note FROM m WHERE " + cond + " ORDER BY n"), kept);
      // The projection after the filter, which does not read v; a group by a tag; a subquery.
      for (std::string q : {"SELECT dev, n, note FROM m WHERE {c} ORDER BY n",
                            "SELECT dev, count(*), min(note), max(n) FROM m WHERE {c} GROUP BY dev ORDER BY dev",
                            "SELECT count(*), sum(n) FROM (SELECT v, n FROM m WHERE n >= 0) s WHERE {c}",
                            "SELECT n, v, note FROM m WHERE {c} ORDER BY n",
                            // the comparison as a value (a boolean column, not a filter)
                            "SELECT n, {c} AS b FROM m ORDER BY n"}) {
        std::string a = q, b = q;
        a.replace(a.find("{c}"), 3, cond);
        b.replace(b.find("{c}"), 3, general);
        EXPECT_EQ(run(a), run(b)) << a;
      }
    }
  }
}

}  // namespace
}  // namespace mqbase::query
