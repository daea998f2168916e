// The read lock every PUBLISH takes on the subscription index: ReadMostlyMutex against the
// locks it replaced (a pthread rwlock per thread, std::shared_mutex), and the cost of a writer
// (SUBSCRIBE, disconnect) while loops read.
#include <benchmark/benchmark.h>
#include <pthread.h>

#include <atomic>
#include <shared_mutex>
#include <thread>

#include "broker/mutex.h"

namespace {

using mqbase::broker::ReadMostlyMutex;

struct PthreadRwlock {
  pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
  void lock_shared() { pthread_rwlock_rdlock(&lock); }
  void unlock_shared() { pthread_rwlock_unlock(&lock); }
};

// One read lock and unlock around a little work, as a delivery does. With ->Threads(2) both
// threads read the same lock object (the index is shared by every loop).
template <class Lock>
void BM_ReadLockPair(benchmark::State& state) {
  static Lock* lock = nullptr;
  if (state.thread_index() == 0) lock = new Lock;
  static int shared_data[16];
  int sink = 0;
  for (auto _ : state) {
    lock->lock_shared();
    sink += shared_data[sink & 15];
    lock->unlock_shared();
  }
  benchmark::DoNotOptimize(sink);
  if (state.thread_index() == 0) {
    // Every thread has left the loop before thread 0 gets here (the library syncs them).
    delete lock;
    lock = nullptr;
  }
}
BENCHMARK_TEMPLATE(BM_ReadLockPair, ReadMostlyMutex)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_ReadLockPair, PthreadRwlock)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_ReadLockPair, std::shared_mutex)->Threads(1)->Threads(2)->UseRealTime();

// A write lock and unlock while `range(0)` other threads take the read lock back to back.
void BM_WriteLockWithReaders(benchmark::State& state) {
  ReadMostlyMutex lock;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < state.range(0); ++i) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        lock.lock_shared();
        lock.unlock_shared();
      }
    });
  }
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
  stop = true;
  for (auto& t : readers) t.join();
}
BENCHMARK(BM_WriteLockWithReaders)->Arg(0)->Arg(2)->UseRealTime();

}  // namespace
