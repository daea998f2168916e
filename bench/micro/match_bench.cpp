// Matching a PUBLISH topic against the subscription index: the per-message work of routing,
// with `range(0)` sessions each subscribed to its own device's topics, plus a few wildcard
// subscribers that match everything of a site.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/session.h"
#include "broker/subscription_index.h"

namespace {

using namespace mqbase::broker;

struct Devices {
  Limits limits;
  Stats stats;
  SubscriptionIndex index;
  std::vector<std::shared_ptr<Session>> sessions;
  std::vector<std::string> topics;  // 32 devices' topics, published in turn

  explicit Devices(int n) {
    for (int i = 0; i < n; ++i) add("c" + std::to_string(i), "site/" + std::to_string(i % 100) + "/device/" + std::to_string(i) + "/+", 0);
    for (int i = 0; i < 4; ++i) add("w" + std::to_string(i), "site/" + std::to_string(i) + "/#", 1);
    for (int i = 0; i < 32; ++i) topics.push_back("site/" + std::to_string(i % 100) + "/device/" + std::to_string(i) + "/temp");
  }
  void add(const std::string& id, const std::string& filter, uint8_t qos) {
    auto s = std::make_shared<Session>(id, true, limits, stats);
    index.add(s, filter, {qos});
    sessions.push_back(std::move(s));
  }
};

// The walk down the trie, as every PUBLISH did before the route cache.
void BM_Match(benchmark::State& state) {
  Devices d(static_cast<int>(state.range(0)));
  std::vector<MatchedSubscriber> out;
  size_t k = 0, matched = 0;
  for (auto _ : state) {
    d.index.match(d.topics[k++ & 31], out);
    matched += out.size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Match)->Arg(1000)->Arg(100000);

// What Broker::publish does: the read lock, then the route cache (the topics recur).
void BM_MatchCached(benchmark::State& state) {
  Devices d(static_cast<int>(state.range(0)));
  size_t k = 0, matched = 0;
  for (auto _ : state) {
    auto lock = d.index.read_lock();
    matched += d.index.match_cached_locked(d.topics[k++ & 31], nullptr).size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_MatchCached)->Arg(1000)->Arg(100000);

// The same while other clients come and go (`mqbase bench --storm`): after every
// `range(1)` lookups a short-lived client subscribes to a filter of its own, or one leaves.
// None of these filters matches the published topics.
void BM_MatchCachedUnderStorm(benchmark::State& state) {
  Devices d(static_cast<int>(state.range(0)));
  const size_t every = static_cast<size_t>(state.range(1));
  std::vector<std::shared_ptr<Session>> storm;
  for (int i = 0; i < 64; ++i) storm.push_back(std::make_shared<Session>("s" + std::to_string(i), true, d.limits, d.stats));
  std::vector<std::string> filters;
  for (int i = 0; i < 64; ++i) filters.push_back("storm/" + std::to_string(i) + (i % 2 ? "/cmd" : "/+/#"));
  size_t k = 0, matched = 0, changes = 0;
  for (auto _ : state) {
    if (++k % every == 0) {
      size_t c = changes++;
      auto& s = storm[(c / 2) % storm.size()];
      if (c % 2 == 0) d.index.add(s, filters[(c / 2) % filters.size()], {0});
      else d.index.remove(s.get(), filters[(c / 2) % filters.size()]);
    }
    auto lock = d.index.read_lock();
    matched += d.index.match_cached_locked(d.topics[k & 31], nullptr).size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_MatchCachedUnderStorm)->Args({1000, 250})->Args({100000, 250})->Args({100000, 32});

}  // namespace
