#include "bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace mqbase::bench {
namespace {

constexpr unsigned kSubBits = 10;                      // 1024 buckets per power of two
constexpr uint64_t kExact = uint64_t{2} << kSubBits;   // 2048: below this, one bucket per value
constexpr unsigned kMaxShift = 30;                     // values up to 2^41 ns (~36 min)
constexpr uint64_t kMaxValue = (uint64_t{2} << (kSubBits + kMaxShift)) - 1;
constexpr size_t kBuckets = kExact + size_t{kMaxShift} * (size_t{1} << kSubBits);

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

size_t LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < kExact) return static_cast<size_t>(ns);
  ns = std::min(ns, kMaxValue);
  unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - (kSubBits + 1);  // >= 1
  uint64_t sub = (ns >> shift) - (uint64_t{1} << kSubBits);                    // 0..1023
  return static_cast<size_t>(kExact + (shift - 1) * (uint64_t{1} << kSubBits) + sub);
}

uint64_t LatencyHistogram::bucket_high(size_t bucket) {
  if (bucket < kExact) return bucket;
  uint64_t rel = bucket - kExact;
  unsigned shift = static_cast<unsigned>(rel >> kSubBits) + 1;
  uint64_t sub = rel & ((uint64_t{1} << kSubBits) - 1);
  uint64_t low = ((uint64_t{1} << kSubBits) + sub) << shift;
  return low + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::record(uint64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  sum_ += ns;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // p = 99.9 is not exact in binary: shave the rounding error off before ceil, or 99.9 % of
  // 1000 values would be rank 1000 instead of 999.
  double exact = p * static_cast<double>(count_) / 100.0;
  auto rank = static_cast<uint64_t>(std::ceil(exact - exact * 1e-12));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_high(i), max_);
  }
  return max_;
}

}  // namespace mqbase::bench
