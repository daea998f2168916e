// Mutex: a 4-byte lock for state there is one of per session, where std::mutex (40 bytes on
// Linux) is a large share of an idle session's memory. Same contract as std::mutex (lock,
// try_lock, unlock; works with std::lock_guard, std::unique_lock, std::scoped_lock and
// std::condition_variable_any); not recursive, not fair.
//
// Design: the three-state futex mutex of Drepper's "Futexes Are Tricky" (mutex3). The word is
// 0 unlocked, 1 locked, 2 locked and maybe with sleepers. Lock takes 0 -> 1 with one CAS when
// uncontended; otherwise it spins briefly (holders here are short: a session's lock guards a
// few container operations and a non-blocking send), then marks the word 2 and sleeps in
// FUTEX_WAIT. Unlock swaps in 0 and calls FUTEX_WAKE only when the old value was 2, so an
// uncontended lock/unlock pair never enters the kernel. The futexes are process-private.
//
// Thread-safety: lock/try_lock/unlock are safe from any thread; unlock only by the holder.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mqbase::broker {

class Mutex {
 public:
  constexpr Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() noexcept {
    uint32_t c = kUnlocked;
    if (state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_slow(c);
  }

  // Returns true when the lock was free and is now held by the caller; never blocks.
  bool try_lock() noexcept {
    uint32_t c = kUnlocked;
    return state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(kUnlocked, std::memory_order_release) == kContended) wake_one();
  }

 private:
  static constexpr uint32_t kUnlocked = 0;
  static constexpr uint32_t kLocked = 1;     // held, nobody sleeping
  static constexpr uint32_t kContended = 2;  // held, sleepers possible: unlock must wake one
  // Spins before sleeping: about as long as glibc's adaptive mutex tries (a few microseconds
  // with PAUSE), which covers a typical session critical section on another core.
  static constexpr int kSpins = 100;

  // `c` is the value the fast path's CAS saw (not 0).
  void lock_slow(uint32_t c) noexcept {
    for (int i = 0; i < kSpins && c == kLocked; ++i) {
      cpu_relax();
      c = state_.load(std::memory_order_relaxed);
      if (c == kUnlocked &&
          state_.compare_exchange_weak(c, kLocked, std::memory_order_acquire, std::memory_order_relaxed))
        return;
    }
    // From here on we may sleep, so we take the lock as 2: we cannot know whether others sleep
    // too, and the unlock that lets us in must not skip the wake they may need.
    if (c != kContended) c = state_.exchange(kContended, std::memory_order_acquire);
    while (c != kUnlocked) {
      wait(kContended);
      c = state_.exchange(kContended, std::memory_order_acquire);
    }
  }

  // Sleeps while the word is `expected` (returns at once if it is not, or on a signal).
  void wait(uint32_t expected) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
  }
  void wake_one() noexcept {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  std::atomic<uint32_t> state_{kUnlocked};
};

static_assert(sizeof(Mutex) == 4, "Mutex must stay one futex word");
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// ReadMostlyMutex: a reader-writer lock for state every event loop reads on every message and
// that changes rarely (the subscription index). A plain rwlock makes each reader write its
// one lock word, so readers on different cores fight over one cache line; here each thread
// reads through its own shard (an rwlock on its own cache line) and a writer takes every
// shard, in order. The shards prefer writers: a loop publishing back to back must not keep a
// SUBSCRIBE waiting for ever. So a thread must not take the shared lock twice (a writer
// waiting in between would deadlock it). Works with std::shared_lock and std::unique_lock.
class ReadMostlyMutex {
 public:
  ReadMostlyMutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (auto& s : shards_) pthread_rwlock_init(&s.lock, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~ReadMostlyMutex() {
    for (auto& s : shards_) pthread_rwlock_destroy(&s.lock);
  }
  ReadMostlyMutex(const ReadMostlyMutex&) = delete;
  ReadMostlyMutex& operator=(const ReadMostlyMutex&) = delete;

  void lock_shared() { pthread_rwlock_rdlock(&shard().lock); }
  void unlock_shared() { pthread_rwlock_unlock(&shard().lock); }
  void lock() {
    for (auto& s : shards_) pthread_rwlock_wrlock(&s.lock);
  }
  void unlock() {
    for (auto& s : shards_) pthread_rwlock_unlock(&s.lock);
  }

 private:
  static constexpr size_t kShards = 8;
  struct alignas(64) Shard {
    pthread_rwlock_t lock;
  };
  // A thread keeps its shard for life, so lock_shared and unlock_shared meet the same one.
  Shard& shard() {
    static std::atomic<size_t> next{0};
    thread_local const size_t slot = next.fetch_add(1, std::memory_order_relaxed);
    return shards_[slot % kShards];
  }
  std::array<Shard, kShards> shards_;
};

}  // namespace mqbase::broker
