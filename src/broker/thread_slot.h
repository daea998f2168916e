// ThreadSlot: a small index per live thread, for state kept per thread on its own cache line
// (the shards of a Counter, the reader slots of a ReadMostlyMutex). A thread gets the lowest
// index no live thread holds on its first call and gives it back when it exits, so threads
// that come and go do not use up the indexes. When all kThreadSlots are held, further threads
// get kThreadSlots, and the users of the index share one overflow entry among them.
// Thread-safety: thread_slot() from any thread; it is the calling thread's own index.
#pragma once
#include <cstddef>

namespace mqbase::broker {

inline constexpr size_t kThreadSlots = 64;

namespace detail {
inline constexpr size_t kSlotUnassigned = ~size_t{0};
inline thread_local size_t t_thread_slot = kSlotUnassigned;
size_t assign_thread_slot() noexcept;
}  // namespace detail

// The calling thread's index in [0, kThreadSlots], kThreadSlots meaning "none left".
inline size_t thread_slot() noexcept {
  size_t i = detail::t_thread_slot;
  return i != detail::kSlotUnassigned ? i : detail::assign_thread_slot();
}

}  // namespace mqbase::broker
