// FailureThrottle: counts failed logins per source address, so that a password guesser gets
// one answer per delay once it has used up its free attempts. After `free_attempts` failures
// within a minute from one address, each further failure there is answered only after
// `delay` (the caller holds the CONNACK back that long). The table is bounded: entries
// older than the window go, and when it is full the oldest window is forgotten.
// Thread-safety: every method from any thread (one mutex, taken on failures only).
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqbase::auth {

class FailureThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kWindow{60};

  FailureThrottle(uint32_t free_attempts, std::chrono::milliseconds delay, size_t max_addresses = 10'000)
      : free_attempts_(free_attempts), delay_(delay), max_addresses_(max_addresses) {}
  FailureThrottle(const FailureThrottle&) = delete;
  FailureThrottle& operator=(const FailureThrottle&) = delete;

  // Records a failed login from `address` (an IP, no port) at `now`. Returns how long its
  // answer must wait: 0 while the address is within its free attempts.
  std::chrono::milliseconds on_failure(std::string_view address, Clock::time_point now = Clock::now());

  size_t addresses() const;

 private:
  struct Entry {
    Clock::time_point window_start;
    uint32_t failures = 0;
  };
  // Forgets entries whose window has passed; if that frees nothing, the oldest one.
  void make_room(Clock::time_point now);

  const uint32_t free_attempts_;
  const std::chrono::milliseconds delay_;
  const size_t max_addresses_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace mqbase::auth
