#include "bench/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mqbase::bench {
namespace {

// Exact nearest-rank percentile of a sorted vector.
uint64_t nearest_rank(const std::vector<uint64_t>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 500u);
  EXPECT_EQ(h.percentile(99), 990u);
  EXPECT_EQ(h.percentile(99.9), 999u);
  EXPECT_EQ(h.percentile(100), 1000u);
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
}

TEST(LatencyHistogram, MicrosecondValuesWithinOneTenthOfAPercent) {
  // 1 us .. 10 ms in 1 us steps: p50 = 5000 us, p99 = 9900 us, p99.9 = 9990 us.
  LatencyHistogram h;
  for (uint64_t us = 1; us <= 10000; ++us) h.record(us * 1000);
  auto near = [](uint64_t got, uint64_t want) {
    double err = std::abs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want);
    return err <= 0.001;
  };
  EXPECT_PRED2(near, h.percentile(50), 5'000'000u);
  EXPECT_PRED2(near, h.percentile(99), 9'900'000u);
  EXPECT_PRED2(near, h.percentile(99.9), 9'990'000u);
  EXPECT_GE(h.percentile(50), 5'000'000u);  // the bucket's high end: never below the true value
}

TEST(LatencyHistogram, TailPercentilesSeeTheOutliers) {
  // 998 fast messages, 2 slow ones: p99 is fast, p99.9 is slow.
  LatencyHistogram h;
  for (int i = 0; i < 998; ++i) h.record(100'000);
  h.record(50'000'000);
  h.record(60'000'000);
  EXPECT_LT(h.percentile(99), 101'000u);
  EXPECT_GE(h.percentile(99.9), 50'000'000u);
  EXPECT_LE(h.percentile(99.9), 50'100'000u);
  EXPECT_EQ(h.percentile(100), 60'000'000u);
}

TEST(LatencyHistogram, MatchesExactPercentilesOnRandomData) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.0);  // around 60 us, long tail
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double want = static_cast<double>(nearest_rank(values, p));
    double got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, want) << "p" << p;
    EXPECT_LE(got, want * 1.001 + 1) << "p" << p;
  }
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v <= 5000; ++v) {
    (v % 3 ? a : b).record(v * 997);
    all.record(v * 997);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {1.0, 50.0, 99.0, 99.9, 100.0}) EXPECT_EQ(a.percentile(p), all.percentile(p));
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
}

TEST(LatencyHistogram, BucketsCoverEveryValueAndAreOrdered) {
  uint64_t prev_high = 0;
  for (uint64_t v : {0ull, 1ull, 2047ull, 2048ull, 2049ull, 4095ull, 4096ull, 1'000'000ull, 123'456'789ull,
                     (1ull << 40) + 12345}) {
    size_t b = LatencyHistogram::bucket_of(v);
    EXPECT_GE(LatencyHistogram::bucket_high(b), v) << v;
    EXPECT_GE(LatencyHistogram::bucket_high(b), prev_high) << v;
    if (b > 0) {
      EXPECT_LT(LatencyHistogram::bucket_high(b - 1), v) << v;
    }
    prev_high = LatencyHistogram::bucket_high(b);
  }
}

TEST(LatencyHistogram, HugeValuesAreClampedNotOutOfRange) {
  LatencyHistogram h;
  h.record(UINT64_MAX / 2);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_GT(h.percentile(50), 0u);
}

}  // namespace
}  // namespace mqbase::bench
