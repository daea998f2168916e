// What recovery hands back through Store::for_each now that it keeps where values lie instead
// of the values: keys in order, a prefix as a range, values read from the files (also from
// files a checkpoint deleted meanwhile), and the checkpointer's use of the same index.
#include "store/value_index.h"

#include <gtest/gtest.h>

#include <random>

#include "store_test_util.h"

namespace mqbase::store {
namespace {

using test::TempDir;

std::string value_of(int i) { return std::string(static_cast<size_t>(i % 700), static_cast<char>('A' + i % 26)) + std::to_string(i); }

TEST(ValueIndexTest, ForEachGivesKeysInOrderAndAPrefixAsARange) {
  TempDir dir;
  auto o = test::options_for(dir.path());
  std::map<std::string, std::string> want;
  {
    auto store = Store::open(o);
    std::mt19937 rng(3);
    for (int i = 0; i < 3000; ++i) {
      WriteBatch b;
      std::string key = std::string(1, "abq"[rng() % 3]) + std::to_string(rng() % 2000);
      if (rng() % 5 == 0) {
        b.del(key);
        want.erase(key);
      } else {
        b.put(key, value_of(i));
        want[key] = value_of(i);
      }
      ASSERT_GT(store->write(b), 0u);
    }
  }
  auto store = Store::open(o);
  std::vector<std::pair<std::string, std::string>> all;
  store->for_each([&](std::string_view k, std::string_view v) { all.emplace_back(k, v); });
  EXPECT_EQ(all, (std::vector<std::pair<std::string, std::string>>(want.begin(), want.end())))
      << "in key order, with every value";
  std::vector<std::string> qs;
  store->for_each("q", [&](std::string_view k, std::string_view v) {
    EXPECT_EQ(v, want.at(std::string(k)));
    qs.emplace_back(k);
  });
  size_t want_q = 0;
  for (auto& [k, v] : want) want_q += k[0] == 'q';
  EXPECT_EQ(qs.size(), want_q);
  EXPECT_TRUE(std::is_sorted(qs.begin(), qs.end()));
  size_t none = 0;
  store->for_each("z", [&](std::string_view, std::string_view) { ++none; });
  EXPECT_EQ(none, 0u);
}

TEST(ValueIndexTest, ManyDeletesAndPutsOfTheSameKeysRecoverExactly) {
  // The index is an open-addressing table: erased keys leave tombstones that later puts reuse
  // and growth clears. Churn through a few keys many times, then recover and compare.
  TempDir dir;
  auto o = test::options_for(dir.path());
  std::map<std::string, std::string> want;
  {
    auto store = Store::open(o);
    std::mt19937 rng(11);
    for (int i = 0; i < 20000; ++i) {
      WriteBatch b;
      for (int j = 0; j < 5; ++j) {
        std::string key = "k" + std::to_string(rng() % (i < 10000 ? 300 : 5000));
        if (rng() % 2) {
          b.del(key);
          want.erase(key);
        } else {
          b.put(key, value_of(i * 5 + j));
          want[key] = value_of(i * 5 + j);
        }
      }
      ASSERT_GT(store->write(b), 0u);
    }
  }
  auto store = Store::open(o);
  EXPECT_EQ(test::contents(*store), want);
  size_t n = 0;
  store->for_each_key("k", [&](std::string_view k, ValueLocation where) {
    EXPECT_EQ(store->recovered_value(where), want.at(std::string(k)));
    ++n;
  });
  EXPECT_EQ(n, want.size());
}

TEST(ValueIndexTest, ValuesStayReadableWhenACheckpointDeletesTheirSegments) {
  TempDir dir;
  auto o = test::options_for(dir.path());
  o.segment_bytes = 1 << 16;  // many segments
  std::map<std::string, std::string> want;
  {
    auto store = Store::open(o);
    for (int i = 0; i < 2000; ++i) {
      WriteBatch b;
      b.put("k" + std::to_string(i), value_of(i));
      want["k" + std::to_string(i)] = value_of(i);
      ASSERT_GT(store->write(b), 0u);
    }
  }
  auto store = Store::open(o);
  // The checkpoint replaces every segment recovery read the values from, and deletes them.
  ASSERT_TRUE(store->checkpoint());
  size_t segments_left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.wal()))
    segments_left += e.path().extension() == ".log" && std::filesystem::file_size(e.path()) > 64;
  EXPECT_LE(segments_left, 1u);
  EXPECT_EQ(test::contents(*store), want);
  store->release_recovered();
  EXPECT_TRUE(test::contents(*store).empty());
  store->close();
  EXPECT_EQ(test::reopen_contents(o), want) << "the checkpoint holds every value";
}

}  // namespace
}  // namespace mqbase::store
