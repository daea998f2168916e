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

void BM_Match(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Limits limits;
  Stats stats;
  SubscriptionIndex index;
  std::vector<std::shared_ptr<Session>> sessions;
  for (int i = 0; i < n; ++i) {
    auto s = std::make_shared<Session>("c" + std::to_string(i), true, limits, stats);
    index.add(s, "site/" + std::to_string(i % 100) + "/device/" + std::to_string(i) + "/+", {0});
    sessions.push_back(std::move(s));
  }
  for (int i = 0; i < 4; ++i) {
    auto s = std::make_shared<Session>("w" + std::to_string(i), true, limits, stats);
    index.add(s, "site/" + std::to_string(i) + "/#", {1});
    sessions.push_back(std::move(s));
  }
  std::vector<std::string> topics;
  for (int i = 0; i < 64; ++i) topics.push_back("site/" + std::to_string(i % 100) + "/device/" + std::to_string(i) + "/temp");
  std::vector<MatchedSubscriber> out;
  size_t k = 0, matched = 0;
  for (auto _ : state) {
    index.match(topics[k++ & 63], out);
    matched += out.size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Match)->Arg(1000)->Arg(100000);

}  // namespace
