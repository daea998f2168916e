// The column codecs of the time-series tables (src/store/column_codec.h): encode and decode
// speed per value, and the bytes per value each data shape takes ("bytes_per_value"). Blocks
// of 4096 values, as the tables will cut them. Shapes: timestamps every 10 s with and without
// millisecond jitter, and every 10 s with readings missing (deltas of 10 to 30 s: the packed
// deltas share the factor 10 s), a random walk with two decimals (issue 11: at most 2 bytes a point),
// full-precision random doubles, and 50 device tags.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "store/column_codec.h"

namespace {

using namespace mqbase::store::columns;
constexpr size_t kBlock = 4096;

enum class Times { regular, jitter, missing };

std::vector<int64_t> timestamps(Times shape) {
  std::mt19937_64 rng(1);
  std::vector<int64_t> t;
  int64_t at = 1'764'000'000'000'000'000;
  for (size_t i = 0; i < kBlock; ++i) {
    if (shape == Times::missing) {
      t.push_back(at += 10'000'000'000 * static_cast<int64_t>(1 + rng() % 3));
      continue;
    }
    t.push_back(at + static_cast<int64_t>(i) * 10'000'000'000 + (shape == Times::jitter ? static_cast<int64_t>(rng() % 1'000'000) : 0));
  }
  return t;
}

std::vector<double> random_walk() {
  std::mt19937_64 rng(2);
  std::vector<double> v;
  int64_t cents = 2150;
  for (size_t i = 0; i < kBlock; ++i) {
    cents += static_cast<int64_t>(rng() % 21) - 10;
    v.push_back(static_cast<double>(cents) / 100.0);
  }
  return v;
}

std::vector<double> random_doubles() {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1000, 1000);
  std::vector<double> v;
  for (size_t i = 0; i < kBlock; ++i) v.push_back(u(rng));
  return v;
}

// `Out`: what the decoder fills (the values' type, or std::string for string_view values).
template <class Out, class In, class Enc, class Dec>
void run(benchmark::State& state, const std::vector<In>& values, Enc enc, Dec dec, bool decode) {
  std::string block;
  enc(values, block);
  std::vector<Out> out;
  for (auto _ : state) {
    if (decode) {
      std::string_view in = block;
      benchmark::DoNotOptimize(dec(in, out));
    } else {
      block.clear();
      enc(values, block);
      benchmark::DoNotOptimize(block.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * values.size()));
  state.counters["bytes_per_value"] = static_cast<double>(block.size()) / static_cast<double>(values.size());
}

void ints(benchmark::State& state, Times shape, bool decode) {
  run<int64_t>(state, timestamps(shape), [](const auto& v, std::string& o) { encode_ints(v, o); },
      [](std::string_view& in, std::vector<int64_t>& o) { return decode_ints(in, o); }, decode);
}
void doubles(benchmark::State& state, bool walk, bool decode) {
  run<double>(state, walk ? random_walk() : random_doubles(), [](const auto& v, std::string& o) { encode_doubles(v, o); },
      [](std::string_view& in, std::vector<double>& o) { return decode_doubles(in, o); }, decode);
}
void tags(benchmark::State& state, bool decode) {
  std::vector<std::string> owned;
  for (size_t i = 0; i < kBlock; ++i) owned.push_back("truck_" + std::to_string(i % 50));
  run<std::string>(state, std::vector<std::string_view>(owned.begin(), owned.end()),
                   [](const auto& v, std::string& o) { encode_strings(v, o); },
                   [](std::string_view& in, std::vector<std::string>& o) { return decode_strings(in, o); }, decode);
}

BENCHMARK_CAPTURE(ints, time_regular_encode, Times::regular, false);
BENCHMARK_CAPTURE(ints, time_regular_decode, Times::regular, true);
BENCHMARK_CAPTURE(ints, time_jitter_encode, Times::jitter, false);
BENCHMARK_CAPTURE(ints, time_jitter_decode, Times::jitter, true);
BENCHMARK_CAPTURE(ints, time_missing_encode, Times::missing, false);
BENCHMARK_CAPTURE(ints, time_missing_decode, Times::missing, true);
BENCHMARK_CAPTURE(doubles, walk_2_decimals_encode, true, false);
BENCHMARK_CAPTURE(doubles, walk_2_decimals_decode, true, true);
BENCHMARK_CAPTURE(doubles, random_encode, false, false);
BENCHMARK_CAPTURE(doubles, random_decode, false, true);
BENCHMARK_CAPTURE(tags, tags_50_encode, false);
BENCHMARK_CAPTURE(tags, tags_50_decode, true);

}  // namespace
