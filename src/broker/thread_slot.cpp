#include "broker/thread_slot.h"

#include <bitset>
#include <mutex>

namespace mqbase::broker::detail {

namespace {

// Indexes held by live threads. A thread's index is free again once its exit has run the
// destructor below; the mutex orders what the old holder wrote through it before what the
// next one writes.
std::mutex slots_mutex;
std::bitset<kThreadSlots> slots_used;

struct SlotRelease {
  size_t index = kThreadSlots;
  ~SlotRelease() {
    if (index == kThreadSlots) return;
    std::lock_guard lock(slots_mutex);
    slots_used.reset(index);
  }
};
thread_local SlotRelease t_release;

}  // namespace

size_t assign_thread_slot() noexcept {
  size_t index = kThreadSlots;
  {
    std::lock_guard lock(slots_mutex);
    for (size_t i = 0; i < kThreadSlots; ++i) {
      if (!slots_used.test(i)) {
        slots_used.set(i);
        index = i;
        break;
      }
    }
  }
  t_release.index = index;
  t_thread_slot = index;
  return index;
}

}  // namespace mqbase::broker::detail
