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
#include <sys/syscall.h>
#include <unistd.h>

#include "broker/thread_slot.h"

namespace mqbase::broker {

// Tells the core we are spinning (lets the sibling hyperthread run, saves power).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

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
  std::atomic<uint32_t> state_{kUnlocked};
};

static_assert(sizeof(Mutex) == 4, "Mutex must stay one futex word");
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// ReadMostlyMutex: a reader-writer lock for state every event loop reads on every message and
// that changes rarely (the subscription index). Readers write no shared word and execute no
// locked instruction: a plain rwlock makes every reader write its one lock word (the cache
// line then moves between cores on every message), and even a lock per thread costs a locked
// read-modify-write, which waits for the core's store buffer to drain (8% of a loop's time
// in the 2-loop fan-in profile, on pthread_rwlock_unlock alone).
//
// Design: each thread owns a slot (a word on its own cache line, in every ReadMostlyMutex, at
// the thread's thread_slot()).
// A reader sets its slot to 1, then checks the writer word; a writer sets the writer word,
// then waits until every slot reads 0. Each side stores its word and then loads the other's
// (Dekker's pattern), which needs a full fence between the store and the load on both sides.
// The writer pays for both: membarrier(2) with MEMBARRIER_CMD_PRIVATE_EXPEDITED runs a full
// fence on every CPU running a thread of the process, so the reader needs only a compiler
// barrier (the scheme of liburcu's membarrier flavour and of Linux's percpu-rwsem). Without
// membarrier (an old kernel, a seccomp filter) readers fence themselves. A reader that finds a
// writer clears its slot and sleeps on the writer word (futex), so writers are preferred: a
// loop publishing back to back cannot keep a SUBSCRIBE waiting. Threads beyond kThreadSlots share an
// overflow slot counted with atomic read-modify-writes. A thread must not take the shared lock
// twice (its slot is a flag, not a count). Works with std::shared_lock and std::unique_lock.
//
// Thread-safety: any thread may lock; unlock on the thread that locked.
class ReadMostlyMutex {
 public:
  ReadMostlyMutex();
  // `readers_fence`: readers fence themselves even where membarrier is available (the
  // fallback path, for tests).
  explicit ReadMostlyMutex(bool readers_fence);
  ReadMostlyMutex(const ReadMostlyMutex&) = delete;
  ReadMostlyMutex& operator=(const ReadMostlyMutex&) = delete;

  void lock_shared() noexcept {
    size_t i = thread_slot();
    if (i == kThreadSlots) return lock_shared_overflow();
    auto& mine = slots_[i].readers;
    mine.store(1, std::memory_order_relaxed);
    reader_fence();
    if (writer_.load(std::memory_order_acquire) != kNoWriter) lock_shared_slow(mine);
  }
  void unlock_shared() noexcept {
    size_t i = thread_slot();
    if (i == kThreadSlots) {
      slots_[kThreadSlots].readers.fetch_sub(1, std::memory_order_release);
      return;
    }
    slots_[i].readers.store(0, std::memory_order_release);
  }
  void lock() noexcept;
  void unlock() noexcept;

 private:
  static constexpr uint32_t kNoWriter = 0;
  static constexpr uint32_t kWriter = 1;
  static constexpr uint32_t kWriterAndSleepers = 2;  // readers sleep on the word: unlock wakes them

  void reader_fence() const noexcept {
    if (readers_fence_)
      std::atomic_thread_fence(std::memory_order_seq_cst);
    else
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the writer's membarrier fences us
  }
  void lock_shared_slow(std::atomic<uint32_t>& mine) noexcept;
  void lock_shared_overflow() noexcept;
  void wait_while_writer() noexcept;

  struct alignas(64) Slot {
    std::atomic<uint32_t> readers{0};
  };
  std::array<Slot, kThreadSlots + 1> slots_;  // [kThreadSlots]: the overflow slot, a count
  alignas(64) std::atomic<uint32_t> writer_{kNoWriter};
  bool readers_fence_;  // membarrier is unavailable: readers fence themselves
  Mutex writers_;       // one writer at a time
};

}  // namespace mqbase::broker
