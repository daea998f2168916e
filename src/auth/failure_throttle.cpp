#include "auth/failure_throttle.h"

#include <algorithm>

namespace mqbase::auth {

std::chrono::milliseconds FailureThrottle::on_failure(std::string_view address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(address));
  if (it == entries_.end()) {
    if (entries_.size() >= max_addresses_) make_room(now);
    it = entries_.emplace(std::string(address), Entry{now, 0}).first;
  } else if (now - it->second.window_start >= kWindow) {
    it->second = Entry{now, 0};
  }
  Entry& e = it->second;
  ++e.failures;
  return e.failures > free_attempts_ ? delay_ : std::chrono::milliseconds(0);
}

void FailureThrottle::make_room(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.window_start >= kWindow; });
  if (entries_.size() < max_addresses_) return;
  auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.second.window_start < b.second.window_start;
  });
  entries_.erase(oldest);
}

size_t FailureThrottle::addresses() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace mqbase::auth
