// The column codecs of the time-series tables: every encoding round-trips to the bit (edge
// values included), picks the small form for the data it is made for, refuses damaged bytes
// without reading past them, and keeps block statistics right.
#include "store/column_codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace mqbase::store::columns {
namespace {

using Lim = std::numeric_limits<int64_t>;
using DLim = std::numeric_limits<double>;

std::string enc_ints(const std::vector<int64_t>& v) {
  std::string out;
  encode_ints(v, out);
  return out;
}
std::string enc_doubles(const std::vector<double>& v) {
  std::string out;
  encode_doubles(v, out);
  return out;
}

void expect_ints_round_trip(const std::vector<int64_t>& v) {
  std::string block = enc_ints(v);
  block += "tail";  // a decoder stops at its block's end
  std::string_view in = block;
  std::vector<int64_t> got{42};
  ASSERT_TRUE(decode_ints(in, got));
  EXPECT_EQ(got, v);
  EXPECT_EQ(in, "tail");
}

// Doubles compare by their bits: NaN payloads and -0.0 must come back as they were.
void expect_doubles_round_trip(const std::vector<double>& v) {
  std::string block = enc_doubles(v);
  block += "tail";
  std::string_view in = block;
  std::vector<double> got;
  ASSERT_TRUE(decode_doubles(in, got));
  ASSERT_EQ(got.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint64_t>(got[i]), std::bit_cast<uint64_t>(v[i])) << "value " << i << ": " << v[i];
  EXPECT_EQ(in, "tail");
}

TEST(ColumnCodec, IntegersRoundTripIncludingTheExtremes) {
  expect_ints_round_trip({});
  expect_ints_round_trip({7});
  expect_ints_round_trip({Lim::min()});
  expect_ints_round_trip({Lim::min(), Lim::max()});
  expect_ints_round_trip({Lim::max(), Lim::min(), Lim::max(), 0, -1, Lim::min()});
  expect_ints_round_trip({0, 0, 0, 0, 0});
  expect_ints_round_trip(std::vector<int64_t>(10000, Lim::min()));
  std::vector<int64_t> alternating;
  for (int i = 0; i < 1000; ++i) alternating.push_back(i % 2 ? Lim::max() : Lim::min());
  expect_ints_round_trip(alternating);
  std::mt19937_64 rng(1);
  std::vector<int64_t> random;
  for (int i = 0; i < 5000; ++i) random.push_back(static_cast<int64_t>(rng()));
  expect_ints_round_trip(random);
  std::vector<int64_t> small;
  for (int i = 0; i < 5000; ++i) small.push_back(static_cast<int64_t>(rng() % 17) - 8);
  expect_ints_round_trip(small);
}

TEST(ColumnCodec, EveryBitWidthAndLengthRoundTrips) {
  // The bit-unpacking reads 8 bytes at a time where they lie inside the block and byte by byte
  // at its end: every width (frame of reference over [0, 2^w)), at lengths around 8-byte
  // boundaries, with the extremes of each width in the last places.
  std::mt19937_64 rng(7);
  for (unsigned w = 1; w <= 63; ++w) {
    const uint64_t top = (uint64_t{1} << w) - 1;
    for (size_t n : {size_t{2}, size_t{3}, size_t{7}, size_t{8}, size_t{9}, size_t{15}, size_t{17}, size_t{63},
                     size_t{64}, size_t{65}, size_t{127}, size_t{1000}}) {
      std::vector<int64_t> v;
      for (size_t i = 0; i + 2 < n; ++i) v.push_back(static_cast<int64_t>(rng() & top));
      v.push_back(0);
      v.push_back(static_cast<int64_t>(top));  // the range is [0, top]: width w exactly
      std::string enc;
      encode_ints(v, enc);
      std::string_view in = enc;
      std::vector<int64_t> back;
      ASSERT_TRUE(decode_ints(in, back)) << "width " << w << ", " << n << " values";
      EXPECT_TRUE(in.empty());
      ASSERT_EQ(back, v) << "width " << w << ", " << n << " values";
    }
  }
}

TEST(ColumnCodec, RegularTimestampsTakeNoBitsPerRow) {
  std::vector<int64_t> t;
  const int64_t start = 1'764'000'000'000'000'000;  // ns
  for (int i = 0; i < 4096; ++i) t.push_back(start + int64_t{i} * 10'000'000'000);
  std::string block = enc_ints(t);
  EXPECT_NE(encoding_of(block), Encoding::int_for);  // deltas (of deltas): all the same
  EXPECT_LT(block.size(), 32u);  // the header only
  expect_ints_round_trip(t);
  // Jitter of up to a millisecond around the 10 s grid: the deltas of deltas' bits.
  std::mt19937_64 rng(2);
  for (auto& x : t) x += static_cast<int64_t>(rng() % 1'000'000);
  block = enc_ints(t);
  EXPECT_LT(block.size(), t.size() * 3 + 32) << "about 21 bits a row";
  expect_ints_round_trip(t);
  // Rows every 10 s whose interval itself drifts by a nanosecond a row: only the deltas of
  // deltas are constant.
  t.clear();
  int64_t at = start, step = 10'000'000'000;
  for (int i = 0; i < 4096; ++i) t.push_back(at += step++);
  block = enc_ints(t);
  EXPECT_EQ(encoding_of(block), Encoding::int_delta2);
  EXPECT_LT(block.size(), 32u);
  expect_ints_round_trip(t);
}

TEST(ColumnCodec, ValuesThatShareAFactorArePackedDividedByIt) {
  // Readings every 10 s with some missing (as TSBS's trucks send them): deltas of 10, 20 or
  // 30 s, in ns. Packed as they are, their range takes 35 bits a row; divided by their common
  // factor (10 s), 2 bits.
  std::mt19937_64 rng(4);
  std::vector<int64_t> t;
  int64_t at = 1'451'606'400'000'000'000;  // 2016-01-01, ns
  for (int i = 0; i < 1000; ++i) t.push_back(at += 10'000'000'000 * static_cast<int64_t>(1 + rng() % 3));
  std::string block = enc_ints(t);
  EXPECT_EQ(encoding_of(block), Encoding::int_delta);
  EXPECT_LT(block.size(), 1000u * 2 / 8 + 40) << "2 bits a row";
  expect_ints_round_trip(t);
  // Values in steps of 5 around a level (a factor of the values themselves), negative ones
  // too, and steps of 2^62 across the whole int64 range (the factor's largest multiples).
  std::vector<int64_t> fives;
  for (int i = 0; i < 1000; ++i) fives.push_back(-2500 + 5 * static_cast<int64_t>(rng() % 1000));
  block = enc_ints(fives);
  EXPECT_LT(block.size(), 1000u * 10 / 8 + 40) << "10 bits a value, not 13";
  expect_ints_round_trip(fives);
  std::vector<int64_t> wide;
  auto quarter = [](uint64_t k) { return static_cast<int64_t>(static_cast<uint64_t>(Lim::min()) + k * (uint64_t{1} << 62)); };
  for (int i = 0; i < 1000; ++i) wide.push_back(quarter(rng() % 4));
  wide.push_back(quarter(3));
  expect_ints_round_trip(wide);
  expect_ints_round_trip({Lim::min(), Lim::max()});  // distance 2^64 - 1: factor 2^64 - 1
  expect_ints_round_trip({Lim::max(), Lim::max() - 6, Lim::max() - 3});
  // Factors of deltas of deltas: a regular interval whose steps change by multiples of 7 ns.
  std::vector<int64_t> drift;
  int64_t x = 0, step = 1000;
  for (int i = 0; i < 1000; ++i) drift.push_back(x += (step += 7 * static_cast<int64_t>(rng() % 3) - 7));
  expect_ints_round_trip(drift);
  // Doubles through ALP: prices in steps of 0.05 pack their integers divided by 5.
  std::vector<double> prices;
  for (int i = 0; i < 1000; ++i) prices.push_back(static_cast<double>(2000 + 5 * static_cast<int64_t>(rng() % 400)) / 100);
  std::string dblock = enc_doubles(prices);
  EXPECT_LT(dblock.size(), 1000u * 9 / 8 + 40) << "9 bits a value, not 11";
  expect_doubles_round_trip(prices);
}

TEST(ColumnCodec, BlocksWrittenBeforeFactorsStillDecode) {
  // A frame of reference as blocks were written before factors existed: int_for, 3 values,
  // base 5 (zigzag 10), width 2, offsets 0, 1, 3 packed from the low bits (0b110100).
  const std::string old_block = std::string{'\x01', '\x03', '\x0a', '\x02', '\x34'} + "tail";
  std::string_view in = old_block;
  std::vector<int64_t> got;
  ASSERT_TRUE(decode_ints(in, got));
  EXPECT_EQ(got, (std::vector<int64_t>{5, 6, 8}));
  EXPECT_EQ(in, "tail");
  // The factor's flag with a factor below 2, or a width past 64 beside it: refused.
  for (const std::string& bad : {std::string{'\x01', '\x03', '\x0a', '\x82', '\x01', '\x34'},
                                 std::string{'\x01', '\x03', '\x0a', '\x82', '\x00', '\x34'},
                                 std::string{'\x01', '\x03', '\x0a', '\xc1', '\x05', '\x34'}}) {
    std::string_view b = bad;
    EXPECT_FALSE(decode_ints(b, got));
    b = bad;
    EXPECT_FALSE(skip_block(b));
  }
  // With a factor of 3: 5, 8, 14.
  const std::string with_factor{'\x01', '\x03', '\x0a', '\x82', '\x03', '\x34'};
  in = with_factor;
  ASSERT_TRUE(decode_ints(in, got));
  EXPECT_EQ(got, (std::vector<int64_t>{5, 8, 14}));
}

TEST(ColumnCodec, ARangeOfABlockIsTheSameAsTheBlockCut) {
  // Every encoding, at lengths around the 8-byte loads' edges, every (lo, hi): the values are
  // those of the whole block's decode, and `in` ends past the block as the whole decode leaves it.
  std::mt19937_64 rng(9);
  std::vector<std::vector<int64_t>> ints;
  std::vector<std::vector<double>> doubles;
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{9}, size_t{17}, size_t{70}}) {
    std::vector<int64_t> level, counter, regular, missing, wide, factor;
    int64_t c = -5, t = 1'451'606'400'000'000'000;
    for (size_t i = 0; i < n; ++i) {
      level.push_back(100 + static_cast<int64_t>(rng() % 200));                  // int_for
      counter.push_back(c += static_cast<int64_t>(rng() % 8));                   // int_delta
      regular.push_back(t + static_cast<int64_t>(i) * 10 + static_cast<int64_t>(i * i));  // int_delta2
      missing.push_back(t += 10'000'000'000 * static_cast<int64_t>(1 + rng() % 3));      // delta, factor
      wide.push_back(static_cast<int64_t>(rng()));                               // 64 bits
      factor.push_back(-35 + 7 * static_cast<int64_t>(rng() % 50));             // for, factor 7
    }
    for (auto* v : {&level, &counter, &regular, &missing, &wide, &factor}) ints.push_back(*v);
    std::vector<double> walk, noisy, specials;
    double w = 20;
    for (size_t i = 0; i < n; ++i) {
      walk.push_back(std::round((w += static_cast<double>(rng() % 200) / 100 - 1) * 100) / 100);  // ALP
      noisy.push_back(std::bit_cast<double>(rng() >> 2));                         // XOR or raw
      specials.push_back(i % 5 == 0 ? DLim::quiet_NaN() : i % 7 == 0 ? -0.0 : static_cast<double>(i) / 4);  // ALP, exceptions
    }
    for (auto* v : {&walk, &noisy, &specials}) doubles.push_back(*v);
  }
  for (const auto& v : ints) {
    const std::string block = enc_ints(v) + "tail";
    for (size_t lo = 0; lo <= v.size(); ++lo)
      for (size_t hi = lo; hi <= v.size(); ++hi) {
        std::string_view in = block;
        std::vector<int64_t> got{1, 2};
        ASSERT_TRUE(decode_ints_range(in, got, lo, hi)) << v.size() << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(got, std::vector<int64_t>(v.begin() + static_cast<long>(lo), v.begin() + static_cast<long>(hi)))
            << "encoding " << static_cast<int>(*encoding_of(block)) << ", " << v.size() << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(in, "tail");
      }
    std::string_view in = block;
    std::vector<int64_t> got;
    EXPECT_FALSE(decode_ints_range(in, got, 0, v.size() + 1));
    EXPECT_FALSE(decode_ints_range(in, got, 1, 0));
  }
  for (const auto& v : doubles) {
    const std::string block = enc_doubles(v) + "tail";
    for (size_t lo = 0; lo <= v.size(); ++lo)
      for (size_t hi = lo; hi <= v.size(); ++hi) {
        std::string_view in = block;
        std::vector<double> got;
        ASSERT_TRUE(decode_doubles_range(in, got, lo, hi)) << v.size() << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(got.size(), hi - lo);
        for (size_t i = lo; i < hi; ++i)
          ASSERT_EQ(std::bit_cast<uint64_t>(got[i - lo]), std::bit_cast<uint64_t>(v[i]))
              << "encoding " << static_cast<int>(*encoding_of(block)) << ", value " << i << " of [" << lo << ", " << hi << ")";
        ASSERT_EQ(in, "tail");
      }
  }
  // Booleans (validity bitmaps): the range, and the count of true values before it (summed a
  // 64-bit word at a time past the first 64).
  for (size_t len : {size_t{45}, size_t{300}}) {
    std::vector<uint8_t> bits;
    for (size_t i = 0; i < len; ++i) bits.push_back(static_cast<uint8_t>(rng() & 1));
    std::string bblock;
    encode_bools(bits, bblock);
    bblock += "tail";
    const size_t step = len > 64 ? 7 : 1;
    for (size_t lo = 0; lo <= bits.size(); lo += (lo + step <= bits.size() ? step : 1))
      for (size_t hi = lo; hi <= bits.size(); hi += (hi + step <= bits.size() ? step : 1)) {
        std::string_view in = bblock;
        std::vector<uint8_t> got;
        size_t before = 99;
        ASSERT_TRUE(decode_bools_range(in, got, lo, hi, &before));
        ASSERT_EQ(got, std::vector<uint8_t>(bits.begin() + static_cast<long>(lo), bits.begin() + static_cast<long>(hi)));
        ASSERT_EQ(before, static_cast<size_t>(std::count(bits.begin(), bits.begin() + static_cast<long>(lo), 1)));
        ASSERT_EQ(in, "tail");
      }
  }
  // Ascending values (times) in a range [from, to): those from the first at or past `from` to
  // the first at or past `to`, and the index of the first, in every encoding (each vector
  // sorted), for bounds on, between and beyond the values.
  auto between = [](std::vector<int64_t> v, size_t max_bounds) {
    std::sort(v.begin(), v.end());
    const std::string block = enc_ints(v) + "tail";
    std::vector<int64_t> bounds = {Lim::min(), Lim::max()};
    const size_t step = std::max<size_t>(1, v.size() / max_bounds);
    for (size_t k = 0; k < v.size(); k += step) {
      bounds.push_back(v[k]);
      if (v[k] < Lim::max()) bounds.push_back(v[k] + 1);
      if (v[k] > Lim::min()) bounds.push_back(v[k] - 1);
    }
    for (int64_t from : bounds)
      for (int64_t to : bounds) {
        std::string_view in = block;
        std::vector<int64_t> got{3};
        size_t first = 99;
        ASSERT_TRUE(decode_ints_between(in, got, from, to, first));
        const auto b = std::lower_bound(v.begin(), v.end(), from);
        const auto e = std::max(b, std::lower_bound(v.begin(), v.end(), to));
        ASSERT_EQ(got, std::vector<int64_t>(b, e))
            << "encoding " << static_cast<int>(*encoding_of(block)) << ", " << v.size() << " values in [" << from << ", " << to << ")";
        if (!got.empty()) {
          ASSERT_EQ(first, static_cast<size_t>(b - v.begin()));
        }
        ASSERT_EQ(in, "tail");
      }
    // And by position: values [lo, hi), each reached by the sum of the packed deltas before it.
    for (size_t lo = 0; lo <= v.size(); lo += 1 + lo / 3)
      for (size_t hi = lo; hi <= v.size(); hi += 1 + (hi - lo) / 2) {
        std::string_view in = block;
        std::vector<int64_t> got;
        ASSERT_TRUE(decode_ints_range(in, got, lo, hi));
        ASSERT_EQ(got, std::vector<int64_t>(v.begin() + static_cast<long>(lo), v.begin() + static_cast<long>(hi)))
            << "encoding " << static_cast<int>(*encoding_of(block)) << ", " << v.size() << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(in, "tail");
      }
  };
  for (const auto& v : ints) between(v, 64);
  // Times as devices send them, long enough for whole 64-bit words of packed deltas: a step of
  // 10 s with readings missed at random (deltas of 1, 2, 4, 16 and more steps: packed widths of
  // 1, 2, 3, 4, 5 and 9 bits with the factor 10 s), with no reading missed (width 0), and with
  // repeated times (a delta of 0).
  for (int64_t most : {2, 3, 4, 8, 16, 32, 300}) {
    std::vector<int64_t> t{1'700'000'000'000'000'000};
    for (int k = 1; k < 1000; ++k) t.push_back(t.back() + 10'000'000'000LL * (1 + static_cast<int64_t>(rng() % most)));
    between(t, 40);
  }
  {
    std::vector<int64_t> t, same;
    for (int k = 0; k < 1000; ++k) t.push_back(-5'000'000'000LL + 7'000'000'000LL * k);
    between(t, 40);
    for (int k = 0; k < 300; ++k) same.push_back(k / 100);
    between(same, 40);
  }
  // Cut short anywhere, a range decode refuses the block as the whole decode does.
  const std::string block = enc_ints(ints[6 * 5 + 3]);  // 17 deltas with a factor
  for (size_t len = 0; len < block.size(); ++len) {
    std::string_view in(block.data(), len);
    std::vector<int64_t> got;
    EXPECT_FALSE(decode_ints_range(in, got, 0, 1)) << "cut at " << len;
    in = std::string_view(block.data(), len);
    size_t first;
    EXPECT_FALSE(decode_ints_between(in, got, Lim::min(), Lim::max(), first)) << "cut at " << len;
  }
}

// A range of a delta block starts at the sum of the deltas before it, summed several packed
// fields at a time whatever their width (a word of 64 / w where w divides 64, else as many as
// one 8-byte load holds). Deltas of every width from 1 to 40 bits, ranges starting anywhere:
// the values are the whole decode's; time ranges (decode_ints_between) likewise.
TEST(ColumnCodec, RangesOfDeltasOfEveryWidthStartAtTheirSum) {
  std::mt19937_64 rng(21);
  for (unsigned width = 1; width <= 40; ++width) {
    for (size_t n : {size_t{40}, size_t{301}}) {
      std::vector<int64_t> v;
      int64_t x = 1'000'000;
      for (size_t i = 0; i < n; ++i) {
        // Deltas that take `width` bits: the first spans the whole range.
        const uint64_t d = i == 1 ? (uint64_t{1} << width) - 1 : rng() & ((uint64_t{1} << width) - 1);
        v.push_back(x += static_cast<int64_t>(d) + 1);  // increasing: a time range is a row range
      }
      const std::string block = enc_ints(v) + "tail";
      ASSERT_EQ(*encoding_of(block), Encoding::int_delta) << width;
      for (size_t lo = 0; lo <= n; lo += 1 + lo / 8) {
        const size_t hi = std::min(n, lo + 5);
        std::string_view in = block;
        std::vector<int64_t> got;
        ASSERT_TRUE(decode_ints_range(in, got, lo, hi));
        ASSERT_EQ(got, std::vector<int64_t>(v.begin() + static_cast<long>(lo), v.begin() + static_cast<long>(hi)))
            << "width " << width << ", " << n << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(in, "tail");
        if (lo == n) continue;
        // The values in [v[lo], v[hi - 1]] by time: rows lo..hi-1 (the deltas are positive).
        in = block;
        size_t first = 99;
        ASSERT_TRUE(decode_ints_between(in, got, v[lo], v[hi - 1] + 1, first));
        EXPECT_EQ(first, lo) << "width " << width << ", " << n << " values";
        ASSERT_EQ(got, std::vector<int64_t>(v.begin() + static_cast<long>(lo), v.begin() + static_cast<long>(hi)))
            << "between, width " << width << ", " << n << " values, [" << lo << ", " << hi << ")";
        ASSERT_EQ(in, "tail");
      }
    }
  }
}

TEST(ColumnCodec, CountersTakeTheirStepsBitsAndRandomValuesTheirRange) {
  std::vector<int64_t> counter;
  int64_t c = 1'000'000'000;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 4096; ++i) counter.push_back(c += static_cast<int64_t>(rng() % 8));
  std::string block = enc_ints(counter);
  EXPECT_EQ(encoding_of(block), Encoding::int_delta);
  EXPECT_LE(block.size(), 4096u * 3 / 8 + 32);  // 3 bits a value
  std::vector<int64_t> levels;
  for (int i = 0; i < 4096; ++i) levels.push_back(100 + static_cast<int64_t>(rng() % 200));
  block = enc_ints(levels);
  EXPECT_EQ(encoding_of(block), Encoding::int_for);
  EXPECT_LE(block.size(), 4096u + 32);  // 8 bits a value
}

TEST(ColumnCodec, DoublesRoundTripToTheBit) {
  const double nan = DLim::quiet_NaN();
  const double payload_nan = std::bit_cast<double>(uint64_t{0x7ff8'0000'dead'beef});
  expect_doubles_round_trip({});
  expect_doubles_round_trip({1.5});
  expect_doubles_round_trip({-0.0});
  expect_doubles_round_trip({0.0, -0.0, 0.0});
  expect_doubles_round_trip({nan, payload_nan, -nan});
  expect_doubles_round_trip({DLim::infinity(), -DLim::infinity(), 1.25, 2.5});
  expect_doubles_round_trip({DLim::denorm_min(), -DLim::denorm_min(), DLim::min() / 3, DLim::min(), DLim::max(),
                             DLim::lowest(), DLim::epsilon()});
  expect_doubles_round_trip({0.1, 0.2, 0.1 + 0.2, 1e-300, 1e300, 123456789.123456789});
  expect_doubles_round_trip(std::vector<double>(10000, 21.5));
  expect_doubles_round_trip(std::vector<double>(3000, nan));
  // Decimals with a few exceptions in among them: ALP with the exceptions kept raw.
  std::vector<double> mixed;
  for (int i = 0; i < 1000; ++i) mixed.push_back(i % 97 == 0 ? nan : i % 89 == 0 ? -0.0 : (i % 400) / 100.0);
  EXPECT_EQ(encoding_of(enc_doubles(mixed)), Encoding::double_alp);
  expect_doubles_round_trip(mixed);
  // Full-precision values that repeat (a sensor read faster than it changes): XOR.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  std::vector<double> repeats;
  for (int i = 0; i < 5000; ++i) repeats.push_back(i % 4 == 0 ? u(rng) : repeats.back());
  std::string block = enc_doubles(repeats);
  EXPECT_EQ(encoding_of(block), Encoding::double_xor);
  EXPECT_LT(block.size(), repeats.size() * 3);
  expect_doubles_round_trip(repeats);
  // Full-precision noise: XOR would only add its control bits; the raw 8 bytes.
  std::vector<double> random;
  for (int i = 0; i < 5000; ++i) random.push_back(u(rng));
  block = enc_doubles(random);
  EXPECT_EQ(encoding_of(block), Encoding::double_raw);
  EXPECT_LE(block.size(), random.size() * 8 + 4);
  expect_doubles_round_trip(random);
  // Random bit patterns: every kind of double, NaNs and subnormals among them.
  std::vector<double> bits;
  for (int i = 0; i < 5000; ++i) bits.push_back(std::bit_cast<double>(rng()));
  expect_doubles_round_trip(bits);
  // Half decimals, half not: either way it must come back.
  std::vector<double> half;
  for (int i = 0; i < 4000; ++i) half.push_back(i % 2 ? u(rng) : i / 100.0);
  expect_doubles_round_trip(half);
}

// ALP's integers go back to doubles four at a time (AVX2, where the CPU has it) when every one
// of a block is under 2^51 in magnitude, and one at a time otherwise: the same bits either way,
// for blocks whose length is not a multiple of four too.
TEST(ColumnCodec, AlpDecodesTheSameBitsOnEitherSideOf2To51) {
  const int64_t edge = int64_t{1} << 51;
  for (unsigned e : {0u, 2u, 3u}) {
    SCOPED_TRACE("exponent " + std::to_string(e));
    const double p = std::pow(10.0, e);
    std::vector<double> under, over, mixed;
    for (int64_t k = 0; k < 1001; ++k) {
      const int64_t sign = k % 2 ? -1 : 1;
      under.push_back(static_cast<double>(sign * (edge - 1 - k * 7919)) / p);
      over.push_back(static_cast<double>(sign * (edge + k * 7919)) / p);
      mixed.push_back(k == 500 ? over.back() : static_cast<double>(k * 37 % 2001 - 1000) / p);
    }
    for (const auto* v : {&under, &over, &mixed}) {
      EXPECT_EQ(encoding_of(enc_doubles(*v)), Encoding::double_alp);
      expect_doubles_round_trip(*v);
    }
    for (size_t n : {1u, 3u, 4u, 5u, 7u}) expect_doubles_round_trip(std::vector<double>(mixed.begin(), mixed.begin() + n));
  }
}

// Issue 11's target for regular sensor data: at most 2 bytes a point for a random walk with
// two decimals.
TEST(ColumnCodec, ARandomWalkWithTwoDecimalsTakesUnderTwoBytesAPoint) {
  std::mt19937_64 rng(5);
  std::vector<double> walk;
  int64_t cents = 2150;
  for (int i = 0; i < 4096; ++i) {
    cents += static_cast<int64_t>(rng() % 21) - 10;  // +-0.10
    walk.push_back(static_cast<double>(cents) / 100.0);
  }
  std::string block = enc_doubles(walk);
  EXPECT_EQ(encoding_of(block), Encoding::double_alp);
  EXPECT_LE(block.size(), walk.size() * 2);
  EXPECT_LE(block.size(), walk.size() * 5 / 8 + 32) << "5 bits a step of +-10";
  expect_doubles_round_trip(walk);
  // A constant: nothing per point.
  EXPECT_LT(enc_doubles(std::vector<double>(4096, 21.5)).size(), 32u);
}

TEST(ColumnCodec, BooleansAreABitEach) {
  std::vector<uint8_t> v;
  for (int i = 0; i < 1001; ++i) v.push_back(i % 3 == 0);
  std::string block;
  encode_bools(v, block);
  EXPECT_LE(block.size(), 1001u / 8 + 4);
  block += "x";
  std::string_view in = block;
  std::vector<uint8_t> got;
  ASSERT_TRUE(decode_bools(in, got));
  EXPECT_EQ(got, v);
  EXPECT_EQ(in, "x");
  // Every length up to 40 (whole packed bytes and the bits after them), every byte value.
  std::mt19937_64 rng(11);
  for (size_t n = 0; n <= 40; ++n) {
    std::vector<uint8_t> bits;
    for (size_t i = 0; i < n; ++i) bits.push_back(static_cast<uint8_t>(rng() & 1));
    std::string b;
    encode_bools(bits, b);
    std::string_view bin = b;
    ASSERT_TRUE(decode_bools(bin, got));
    ASSERT_EQ(got, bits) << n << " values";
  }
  std::vector<uint8_t> all_bytes;
  for (unsigned x = 0; x < 256; ++x)
    for (unsigned i = 0; i < 8; ++i) all_bytes.push_back(static_cast<uint8_t>((x >> i) & 1));
  block.clear();
  encode_bools(all_bytes, block);
  in = block;
  ASSERT_TRUE(decode_bools(in, got));
  EXPECT_EQ(got, all_bytes);
}

void expect_strings_round_trip(const std::vector<std::string>& v, std::optional<Encoding> want = std::nullopt) {
  std::vector<std::string_view> views(v.begin(), v.end());
  std::string block;
  encode_strings(views, block);
  if (want) {
    EXPECT_EQ(encoding_of(block), *want);
  }
  block += "!";
  std::string_view in = block;
  std::vector<std::string> got;
  ASSERT_TRUE(decode_strings(in, got));
  EXPECT_EQ(got, v);
  EXPECT_EQ(in, "!");
}

TEST(ColumnCodec, StringsByDictionaryOrPlain) {
  expect_strings_round_trip({});
  expect_strings_round_trip({""});
  expect_strings_round_trip({"", "", "", ""}, Encoding::string_dict);
  std::vector<std::string> tags;
  for (int i = 0; i < 3000; ++i) tags.push_back("truck_" + std::to_string(i % 50));
  expect_strings_round_trip(tags, Encoding::string_dict);
  std::vector<std::string_view> views(tags.begin(), tags.end());
  std::string block;
  encode_strings(views, block);
  EXPECT_LT(block.size(), 3000u * 6 / 8 + 50 * 10 + 16) << "6 bits an index and the dictionary";
  std::vector<std::string> distinct;
  for (int i = 0; i < 300; ++i) distinct.push_back("{\"seq\":" + std::to_string(i) + "}");
  expect_strings_round_trip(distinct, Encoding::string_plain);
  std::string binary("a\0b\xff\x80", 5);
  expect_strings_round_trip({binary, binary, "", binary});
  // 1 MiB values, repeated and not.
  std::string big(1 << 20, 'x');
  std::string big2 = big;
  big2.back() = 'y';
  expect_strings_round_trip({big, big, big2, big});
  expect_strings_round_trip({big, big2});
}

TEST(ColumnCodec, BlocksOverTheLimitsAreRefusedByTheEncoder) {
  std::vector<int64_t> too_many(kMaxValues + 1);
  std::string out;
  EXPECT_THROW(encode_ints(too_many, out), std::length_error);
  std::vector<int64_t> most(kMaxValues, 5);
  encode_ints(most, out);
  std::string_view in = out;
  std::vector<int64_t> got;
  ASSERT_TRUE(decode_ints(in, got));
  EXPECT_EQ(got.size(), kMaxValues);
}

// Every strict prefix of a valid block is refused (the lengths are all explicit), and so is
// the wrong decoder; none reads past its input (ASan and the fuzzer check that part).
TEST(ColumnCodec, TruncatedOrForeignBlocksAreRefused) {
  std::mt19937_64 rng(6);
  std::vector<std::string> blocks;
  std::vector<int64_t> ints;
  for (int i = 0; i < 300; ++i) ints.push_back(static_cast<int64_t>(rng() % 100000));
  blocks.push_back(enc_ints(ints));
  std::vector<double> walk;
  for (int i = 0; i < 300; ++i) walk.push_back(i % 50 == 0 ? DLim::quiet_NaN() : (1000 + i * 3 % 17) / 100.0);
  blocks.push_back(enc_doubles(walk));
  std::vector<double> random;
  for (int i = 0; i < 300; ++i) random.push_back(std::bit_cast<double>(rng() >> 2));
  blocks.push_back(enc_doubles(random));
  std::vector<uint8_t> bools(300, 1);
  std::string b;
  encode_bools(bools, b);
  blocks.push_back(b);
  std::vector<std::string_view> strs;
  for (int i = 0; i < 300; ++i) strs.push_back(i % 2 ? "alpha" : "beta");
  b.clear();
  encode_strings(strs, b);
  blocks.push_back(b);
  std::vector<std::string> plain;
  for (int i = 0; i < 300; ++i) plain.push_back(std::to_string(rng()));
  strs.assign(plain.begin(), plain.end());
  b.clear();
  encode_strings(strs, b);
  blocks.push_back(b);

  for (const auto& block : blocks) {
    for (size_t len = 0; len < block.size(); ++len) {
      // A private copy of exactly `len` bytes: ASan catches a read past it.
      std::unique_ptr<char[]> copy(new char[len ? len : 1]);
      std::memcpy(copy.get(), block.data(), len);
      std::string_view in(copy.get(), len);
      std::vector<int64_t> i;
      std::vector<double> d;
      std::vector<uint8_t> bo;
      std::vector<std::string> s;
      auto a = in, c = in, e = in, f = in, g = in;
      EXPECT_FALSE(decode_ints(a, i) || decode_doubles(c, d) || decode_bools(e, bo) || decode_strings(f, s))
          << "encoding " << int(block[0]) << " cut to " << len << " of " << block.size();
      EXPECT_FALSE(skip_block(g)) << "skip: encoding " << int(block[0]) << " cut to " << len;
    }
    // Whole, followed by more: skip_block passes over exactly the block.
    std::string two = block + "tail";
    std::string_view in = two;
    ASSERT_TRUE(skip_block(in)) << "encoding " << int(block[0]);
    EXPECT_EQ(in, "tail") << "encoding " << int(block[0]);
  }
  // Each block is taken only by its own decoder.
  std::string_view in = blocks[0];
  std::vector<double> d;
  EXPECT_FALSE(decode_doubles(in, d));
  std::vector<std::string> s;
  in = blocks[1];
  EXPECT_FALSE(decode_strings(in, s));
  EXPECT_FALSE(encoding_of(""));
  EXPECT_FALSE(encoding_of("\x63"));
}

TEST(ColumnCodec, SkipPassesOverEveryEncodingAsTheDecoderReadsIt) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    const size_t n = rng() % 700;
    std::vector<int64_t> ints;
    std::vector<double> dbl;
    std::vector<std::string> text;
    const int kind = round % 6;
    for (size_t i = 0; i < n; ++i) {
      ints.push_back(kind == 0 ? static_cast<int64_t>(i * 10) : kind == 1 ? static_cast<int64_t>(i * i) : static_cast<int64_t>(rng()));
      dbl.push_back(kind < 2 ? static_cast<double>(rng() % 10000) / 100.0 : kind == 2 ? std::bit_cast<double>(rng() >> 1) : 21.5 + i);
      text.push_back(kind < 3 ? std::string(1 + rng() % 3, 'a' + static_cast<char>(rng() % 3)) : std::to_string(rng()));
    }
    std::vector<std::string_view> views(text.begin(), text.end());
    std::vector<uint8_t> bools;
    for (size_t i = 0; i < n; ++i) bools.push_back(rng() & 1);
    std::string all;
    encode_ints(ints, all);
    encode_doubles(dbl, all);
    encode_bools(bools, all);
    encode_strings(views, all);
    all += "end";
    std::string_view in = all;
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(skip_block(in)) << "round " << round << ", block " << k;
    EXPECT_EQ(in, "end") << "round " << round;
  }
}

TEST(ColumnCodec, DamagedHeadersAreRefusedNotTrusted) {
  // A count past the limit, a width past 64, a dictionary index past the dictionary.
  std::string huge;
  huge.push_back(static_cast<char>(Encoding::int_for));
  huge += "\xff\xff\xff\x7f";  // a varint of 2^28 - 1
  std::string_view in = huge;
  std::vector<int64_t> i;
  EXPECT_FALSE(decode_ints(in, i));
  std::string wide = enc_ints({1, 2, 3});
  ASSERT_EQ(encoding_of(wide), Encoding::int_for);
  wide[3] = 65;  // [enc][n][base][width]
  in = wide;
  EXPECT_FALSE(decode_ints(in, i));
  // A dictionary block whose one index is replaced by one past the dictionary.
  std::vector<std::string_view> two{"a", "b", "a", "b", "a"};
  std::string dict;
  encode_strings(two, dict);
  ASSERT_EQ(encoding_of(dict), Encoding::string_dict);
  dict.back() = static_cast<char>(0xff);  // 1-bit indices: all of the last byte's bits set
  in = dict;
  std::vector<std::string> s;
  EXPECT_TRUE(decode_strings(in, s));  // indices 0 and 1 both exist: still valid
  // A dictionary that claims 2 entries but has an index width of 2 and an index of 3.
  std::string bad;
  bad.push_back(static_cast<char>(Encoding::string_dict));
  bad += "\x01\x02\x01" "a" "\x01" "b" "\x02\x03";
  in = bad;
  EXPECT_FALSE(decode_strings(in, s));
  // A dictionary block that would expand past kMaxStringBytes: 65536 copies of 8 KiB.
  std::string bomb;
  bomb.push_back(static_cast<char>(Encoding::string_dict));
  bomb += "\x80\x80\x04";  // n = 65536
  bomb += "\x01";          // one entry
  bomb += "\x80\x40";      // of 8192 bytes
  bomb.append(8192, 'z');
  bomb.push_back(0);  // width 0: every index is 0
  in = bomb;
  EXPECT_FALSE(decode_strings(in, s));
}

TEST(ColumnCodec, BlockStatistics) {
  auto s = int_stats(std::vector<int64_t>{5, -3, 12, 7});
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.min, -3);
  EXPECT_EQ(s.max, 12);
  EXPECT_EQ(s.first, 5);
  EXPECT_EQ(s.last, 7);
  EXPECT_EQ(s.sum, 21);
  EXPECT_FALSE(s.sum_overflowed);
  s = int_stats(std::vector<int64_t>{Lim::max(), 1});
  EXPECT_TRUE(s.sum_overflowed);
  EXPECT_EQ(s.max, Lim::max());
  s = int_stats(std::vector<int64_t>{Lim::min(), Lim::max()});
  EXPECT_FALSE(s.sum_overflowed);
  EXPECT_EQ(s.sum, -1);
  EXPECT_EQ(int_stats({}).count, 0u);

  const double nan = DLim::quiet_NaN();
  auto d = double_stats(std::vector<double>{nan, 2.5, -1.0, DLim::infinity(), nan, 0.5});
  EXPECT_EQ(d.count, 6u);
  EXPECT_EQ(d.nans, 2u);
  EXPECT_EQ(d.min, -1.0);
  EXPECT_EQ(d.max, DLim::infinity());
  EXPECT_TRUE(std::isnan(d.first));
  EXPECT_EQ(d.last, 0.5);
  EXPECT_EQ(d.sum, DLim::infinity());
  d = double_stats(std::vector<double>{1.25, 2.5});
  EXPECT_EQ(d.sum, 3.75);
  EXPECT_EQ(d.nans, 0u);
}

}  // namespace
}  // namespace mqbase::store::columns
