// Histogram: durations counted into fixed buckets, for the Prometheus histograms of /metrics
// (docs/operations.md): WAL append and fdatasync latency, checkpoint duration, query latency.
// The bounds are Prometheus's own default buckets widened downwards to 50 us, since an
// fdatasync on a fast disk or a write() into the page cache takes less than 5 ms.
//
// Thread-safety: observe() and snapshot() from any threads. Each field is a relaxed atomic,
// so a snapshot taken while observe() runs may count one observation in `count` and not yet
// in its bucket (Prometheus tolerates that: the next scrape agrees).
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace mqbase::store {

class Histogram {
 public:
  // Upper bounds in seconds (le); a last bucket, +Inf, takes the rest.
  static constexpr std::array<double, 16> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    10};

  void observe(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(seconds > 0 ? seconds * 1e9 : 0), std::memory_order_relaxed);
  }
  void observe(std::chrono::steady_clock::duration d) { observe(std::chrono::duration<double>(d).count()); }

  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> buckets{};  // not cumulative; the last is +Inf
    uint64_t count = 0;
    double sum = 0;  // seconds
  };
  Snapshot snapshot() const {
    Snapshot s;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      s.count += s.buckets[i];
    }
    s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace mqbase::store
