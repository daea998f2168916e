// Swappable<T>: an immutable value that a reload replaces whole (a parsed password or ACL
// file), read on every check by many threads. A reader goes through a per-thread cache: it
// takes no lock and writes no shared memory unless the value changed since its last read.
// Thread-safety: store() and load() from any thread; get() from any thread, see its contract.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace mqbase::auth {

template <typename T>
class Swappable {
 public:
  Swappable() = default;
  Swappable(const Swappable&) = delete;
  Swappable& operator=(const Swappable&) = delete;

  void store(std::shared_ptr<const T> value) {
    std::lock_guard lock(mutex_);
    current_ = std::move(value);
    // A number no other Swappable<T> has used: a thread's cache cannot take one for another.
    static std::atomic<uint64_t> versions{0};
    version_.store(versions.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  std::shared_ptr<const T> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // The current value (null when none was stored). The pointer is valid until this thread's
  // next get() of any Swappable<T>: use it for one check, do not keep it.
  const T* get() const {
    struct Cache {
      uint64_t version = 0;
      std::shared_ptr<const T> value;
    };
    thread_local Cache cache;
    uint64_t v = version_.load(std::memory_order_acquire);
    if (cache.version != v) {
      cache.value = load();
      cache.version = v;
    }
    return cache.value.get();
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace mqbase::auth
