// Mutex: mutual exclusion under contention (an unprotected counter comes out exact), try_lock,
// and use through the standard lock wrappers and std::condition_variable_any.
#include "broker/mutex.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mqbase::broker {
namespace {

TEST(MutexTest, IsOneWord) { EXPECT_EQ(sizeof(Mutex), 4u); }

TEST(MutexTest, CounterUnderContentionIsExact) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 200'000;
  Mutex m;
  uint64_t counter = 0;  // deliberately not atomic: only the mutex protects it
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        std::lock_guard lock(m);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, uint64_t{kThreads} * kIncrements);
}

TEST(MutexTest, LongHoldsPutWaitersToSleepAndWakeThem) {
  // Holds long enough that the waiters exhaust their spinning and sleep in the kernel.
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  Mutex m;
  int inside = 0;
  int max_inside = 0;
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::scoped_lock lock(m);
        max_inside = std::max(max_inside, ++inside);
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        ++total;
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(total, kThreads * kRounds);
}

TEST(MutexTest, TryLockFailsWhileHeldAndSucceedsAfterUnlock) {
  Mutex m;
  ASSERT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock()) << "not recursive";
  bool other = true;
  std::thread([&] { other = m.try_lock(); }).join();
  EXPECT_FALSE(other) << "held by this thread";
  m.unlock();
  std::thread([&] {
    other = m.try_lock();
    if (other) m.unlock();
  }).join();
  EXPECT_TRUE(other);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

TEST(MutexTest, WorksWithUniqueLockAndConditionVariableAny) {
  Mutex m;
  std::condition_variable_any cv;
  int stage = 0;
  std::thread consumer([&] {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return stage == 1; });
    stage = 2;
    lock.unlock();
    cv.notify_all();
  });
  {
    std::unique_lock lock(m);
    EXPECT_TRUE(lock.owns_lock());
    stage = 1;
  }
  cv.notify_all();
  {
    std::unique_lock lock(m);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return stage == 2; }));
  }
  consumer.join();
  std::unique_lock lock(m, std::try_to_lock);
  EXPECT_TRUE(lock.owns_lock());
}

}  // namespace
}  // namespace mqbase::broker
