// Counter: sharded, with plain stores on the shards a thread owns and atomic adds on the one
// shard that later threads share; the sum must stay exact either way.
#include "broker/stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace mqbase::broker {
namespace {

TEST(CounterTest, SumIsExactWithMoreThreadsThanShards) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 40; ++t) {  // more threads than shards: some share the last one
    threads.emplace_back([&c] {
      for (int i = 0; i < 20000; ++i) c.add(3);
      for (int i = 0; i < 10000; ++i) c.sub(2);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.get(), 40u * (20000u * 3 - 10000u * 2));
}

TEST(CounterTest, SubtractionBelowAShardsValueStillSumsRight) {
  Counter c;
  std::thread([&c] { c.add(10); }).join();
  c.sub(4);  // this thread's shard wraps below zero; the sum does not
  EXPECT_EQ(c.get(), 6u);
}

}  // namespace
}  // namespace mqbase::broker
