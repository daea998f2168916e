// LatencyHistogram: latencies in nanoseconds, counted into log-linear buckets (as
// HdrHistogram does) so recording is one increment and percentiles stay within 0.1 % of the
// true value: values below 2048 ns are exact, larger ones fall into 1024 buckets per power of
// two. Values above ~1100 s are clamped. One per event loop; merge() combines them at the
// end of a run. Allocates its buckets once, in the constructor. Not thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mqbase::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(uint64_t ns);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The nearest-rank percentile, p in [0, 100]: the smallest recorded value v (to the bucket's
  // precision) such that at least p % of the values are <= v. 0 when nothing was recorded.
  // The result is the highest value of its bucket, never above max().
  uint64_t percentile(double p) const;

  // Bucket arithmetic, public for the tests.
  static size_t bucket_of(uint64_t ns);
  static uint64_t bucket_high(size_t bucket);  // largest value that falls into `bucket`

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace mqbase::bench
