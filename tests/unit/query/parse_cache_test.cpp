// The engine's cache of parse trees (Engine::cached_parses): a statement sent again answers as
// the first time, whatever ran in between; what does not parse is not kept; the cache stays
// within its bound; threads share it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "query/engine.h"
#include "sql_dataset.h"
#include "store/tables.h"
#include "text_sink.h"

namespace mqbase::query {
namespace {

class ParseCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mqbase_parse_cache_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    data_ = std::make_unique<test::DatasetStore>(dir_.string());
    engine_ = std::make_unique<Engine>(&data_->tables(), nullptr);
    options_.now_ns = test::kDatasetNowNs;
  }
  void TearDown() override {
    engine_.reset();
    data_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The rows, or "error: ..." with the position.
  std::string run(const std::string& sql) {
    test::Text sink;
    QueryStatus st = engine_->execute(sql, options_, sink);
    if (!st.ok) return "error: " + st.error + " @" + std::to_string(st.position);
    return sink.out + st.tag;
  }

  std::filesystem::path dir_;
  std::unique_ptr<test::DatasetStore> data_;
  std::unique_ptr<Engine> engine_;
  QueryOptions options_;
};

TEST_F(ParseCacheTest, AStatementSentAgainAnswersAsTheFirstTime) {
  const std::string latest = "SELECT DISTINCT ON (device) device, time, temp FROM readings ORDER BY device, time DESC";
  const std::string count = "SELECT device, count(*) FROM readings GROUP BY device ORDER BY device";
  EXPECT_EQ(engine_->cached_parses(), 0u);
  const std::string first = run(latest);
  ASSERT_EQ(first.rfind("error", 0), std::string::npos) << first;
  EXPECT_EQ(engine_->cached_parses(), 1u);
  const std::string counted = run(count);
  EXPECT_EQ(engine_->cached_parses(), 2u);
  // Rows written between two runs of the same text are seen by the second: only the parse is
  // kept, not the plan or the answer.
  const std::string insert = "INSERT INTO readings (time, device, site, temp) VALUES ('2024-01-02 11:59:00+00', 'd1', 'north', 99.5)";
  EXPECT_EQ(run(insert), "INSERT 0 1");
  const std::string again = run(latest);
  EXPECT_NE(again, first);
  EXPECT_NE(again.find("d1|1704196740000000000|99.5|"), std::string::npos) << again;
  EXPECT_EQ(again, run(latest));
  EXPECT_NE(run(count), counted);
  // A bind parameter's value is not part of the text: the same statement with another value.
  const std::string by_device = "SELECT count(*) FROM readings WHERE device = $1";
  options_.params = {Value::of_text("d6")};
  EXPECT_EQ(run(by_device), "count|\n1|\nSELECT 1");
  options_.params = {Value::of_text("nope")};
  EXPECT_EQ(run(by_device), "count|\n0|\nSELECT 1");
  EXPECT_EQ(engine_->cached_parses(), 4u);
}

TEST_F(ParseCacheTest, WhatDoesNotParseIsNotKeptAndErrsTheSameEachTime) {
  const std::string bad = "SELECT device FORM readings";
  const std::string first = run(bad);
  EXPECT_EQ(first, "error: syntax error at or near \"readings\" @20");
  EXPECT_EQ(run(bad), first);
  EXPECT_EQ(engine_->cached_parses(), 0u);
  // A statement that parses but fails to bind is kept (its tree is fine) and fails again.
  const std::string unknown = "SELECT nope FROM readings";
  EXPECT_EQ(run(unknown), "error: column \"nope\" does not exist @8");
  EXPECT_EQ(run(unknown), "error: column \"nope\" does not exist @8");
  EXPECT_EQ(engine_->cached_parses(), 1u);
}

TEST_F(ParseCacheTest, StaysWithinItsBound) {
  // 64 KiB statements (each tree a few times that): the cache's 4 MiB hold a few dozen at most.
  const std::string pad(64 << 10, ' ');
  for (int k = 0; k < 200; ++k) {
    const std::string sql = "SELECT " + std::to_string(k) + " AS k" + pad;
    ASSERT_EQ(run(sql), "k|\n" + std::to_string(k) + "|\nSELECT 1");
  }
  EXPECT_GT(engine_->cached_parses(), 0u);
  EXPECT_LE(engine_->cached_parses(), size_t{(4 << 20) / (64 << 10)});
  // The newest is still there; a statement past the size of one entry is never kept.
  const size_t before = engine_->cached_parses();
  EXPECT_EQ(run("SELECT 199 AS k" + pad), "k|\n199|\nSELECT 1");
  EXPECT_EQ(engine_->cached_parses(), before);
  const std::string huge = "SELECT 1 AS one" + std::string(300 << 10, ' ');
  EXPECT_EQ(run(huge), "one|\n1|\nSELECT 1");
  EXPECT_EQ(engine_->cached_parses(), before);
}

TEST_F(ParseCacheTest, ThreadsShareIt) {
  // Four threads, each its own statements and four shared ones, read and fill the cache at once
  // (the ThreadSanitizer build runs this too); every answer is the one a lone run gives.
  std::vector<std::string> sqls;
  for (int k = 0; k < 8; ++k)
    sqls.push_back("SELECT device, count(*) + " + std::to_string(k) + " FROM readings GROUP BY device ORDER BY device");
  std::vector<std::string> expected;
  {
    Engine lone(&data_->tables(), nullptr);
    for (auto& q : sqls) {
      test::Text sink;
      ASSERT_TRUE(lone.execute(q, options_, sink).ok);
      expected.push_back(sink.out);
    }
  }
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 25; ++round)
        for (size_t k = 0; k < sqls.size(); ++k) {
          if (k >= 4 && k % 4 != static_cast<size_t>(t)) continue;  // 0..3 shared, 4..7 one thread's
          test::Text sink;
          QueryStatus st = engine_->execute(sqls[k], options_, sink);
          if (!st.ok || sink.out != expected[k]) ++wrong[static_cast<size_t>(t)];
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[static_cast<size_t>(t)], 0) << "thread " << t;
  EXPECT_EQ(engine_->cached_parses(), sqls.size());
}

}  // namespace
}  // namespace mqbase::query
