#include "broker/mutex.h"

#include <linux/membarrier.h>
#include <sched.h>

#include <climits>

namespace mqbase::broker {

namespace {

// Registers the process for expedited private membarriers once; false when the kernel (or a
// seccomp filter) refuses, and readers then fence themselves.
bool membarrier_registered() {
  static const bool registered = [] {
    long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }();
  return registered;
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

ReadMostlyMutex::ReadMostlyMutex() : readers_fence_(!membarrier_registered()) {}
ReadMostlyMutex::ReadMostlyMutex(bool readers_fence) : readers_fence_(readers_fence || !membarrier_registered()) {}

// A writer is in or waiting: step aside (it waits for our slot to read 0), sleep until it is
// done, announce ourselves again.
void ReadMostlyMutex::lock_shared_slow(std::atomic<uint32_t>& mine) noexcept {
  do {
    mine.store(0, std::memory_order_release);
    wait_while_writer();
    mine.store(1, std::memory_order_relaxed);
    reader_fence();
  } while (writer_.load(std::memory_order_acquire) != kNoWriter);
}

void ReadMostlyMutex::lock_shared_overflow() noexcept {
  auto& count = slots_[kThreadSlots].readers;
  // The read-modify-write is a full fence: no membarrier needed on this path.
  while (true) {
    count.fetch_add(1, std::memory_order_seq_cst);
    if (writer_.load(std::memory_order_seq_cst) == kNoWriter) return;
    count.fetch_sub(1, std::memory_order_release);
    wait_while_writer();
  }
}

void ReadMostlyMutex::wait_while_writer() noexcept {
  uint32_t w = writer_.load(std::memory_order_acquire);
  while (w != kNoWriter) {
    if (w == kWriter && !writer_.compare_exchange_weak(w, kWriterAndSleepers, std::memory_order_acquire)) continue;
    futex_wait(writer_, kWriterAndSleepers);
    w = writer_.load(std::memory_order_acquire);
  }
}

void ReadMostlyMutex::lock() noexcept {
  writers_.lock();
  writer_.store(kWriter, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Every reader now either sees the writer word or has its slot visible to us.
  if (!readers_fence_) ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  for (auto& slot : slots_) {
    // Readers hold the lock for one message's deliveries: spin a little, then yield the core
    // (a reader descheduled mid-delivery may need it).
    for (int spins = 0; slot.readers.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 100)
        cpu_relax();
      else
        ::sched_yield();
    }
  }
}

void ReadMostlyMutex::unlock() noexcept {
  if (writer_.exchange(kNoWriter, std::memory_order_release) == kWriterAndSleepers) futex_wake_all(writer_);
  writers_.unlock();
}

}  // namespace mqbase::broker
