// What an ingest rule costs a message on the publisher's event loop: Ingest::take() of one TSBS
// truck reading (a JSON object of 7 fields and the time) on fleet/<fleet>/truck_<n>/readings,
// mapped by the rule `topic = "fleet/+fleet/+name/readings"`, `time = "$.time"` (the shape of
// `ingest_load --mode readings`), into a store in a scratch directory. What is timed is the
// loop's part: the rule, the row, its WAL record and the in-memory head. The store runs with
// durability `none`, so that no writer thread shares the machine with the timed one (in
// `sync` the record is also appended to the writer's buffer, a copy of its ~150 bytes).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/persistence.h"
#include "ingest/ingest.h"
#include "store/store.h"
#include "store/tables.h"

namespace {

using namespace mqbase;

void BM_IngestRuleReading(benchmark::State& state) {
  const int trucks = static_cast<int>(state.range(0));
  std::string dir = std::filesystem::temp_directory_path() / ("mqbase-ingest-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    store::tables::TablesOptions to;
    to.dir = dir + "/tables";
    to.memory_budget = uint64_t{8} << 30;
    auto tables = store::tables::Tables::open(to);
    store::StoreOptions so;
    so.dir = dir;
    so.durability = store::Durability::none;  // no writer thread beside the timed one: steadier figures
    so.before_checkpoint = [t = tables.get()](store::Lsn covered) { return t->flush(covered); };
    store::RecoveryReport report;
    auto st = store::Store::open(so, &report, [t = tables.get()](uint8_t type, store::Lsn lsn, std::string_view p) {
      t->replay(type, lsn, p);
    });
    tables->attach(*st);
    broker::Broker broker(broker::Limits{});
    ingest::IngestOptions io;
    ingest::RuleConfig rule;
    rule.topic = "fleet/+fleet/+name/readings";
    rule.table = "readings";
    rule.time = "$.time";
    io.rules.push_back(rule);
    ingest::Ingest ingest(*tables, *st, broker, io);

    // A pool of messages made before timing, cycled through: truck n's readings 10 s apart.
    std::mt19937_64 rng(1);
    std::uniform_int_distribution<int> step(-50, 50);
    const int64_t t0 = 1'700'000'000'000'000'000;
    std::vector<broker::Message> pool(static_cast<size_t>(trucks) * 4);
    std::vector<int64_t> walk(trucks, 2000);
    for (size_t k = 0; k < pool.size(); ++k) {
      int truck = static_cast<int>(k % trucks);
      walk[truck] += step(rng);
      double v = walk[truck] / 100.0;
      char json[512];
      int n = std::snprintf(json, sizeof json,
                            "{\"time\":%lld,\"latitude\":%.5f,\"longitude\":%.5f,\"elevation\":%d,"
                            "\"velocity\":%.1f,\"heading\":%d,\"grade\":%.1f,\"fuel_consumption\":%.2f}",
                            static_cast<long long>(t0 + static_cast<int64_t>(k / trucks) * 10'000'000'000LL),
                            52.0 + v / 1000, 4.0 + v / 1000, static_cast<int>(v) % 500, std::fabs(v) / 10, truck % 360,
                            std::fmod(std::fabs(v), 10), 10 + std::fmod(std::fabs(v), 5));
      pool[k].topic = std::string("fleet/") + (truck % 2 ? "east" : "west") + "/truck_" + std::to_string(truck) + "/readings";
      pool[k].payload.assign(json, static_cast<size_t>(n));
      pool[k].qos = 1;
    }
    broker::MessageSink::Publisher publisher{"bench", 4};
    size_t k = 0;
    int64_t round = 0;
    for (auto _ : state) {
      broker::Message& m = pool[k];
      if (++k == pool.size()) {
        // The next round of readings: every time moves past the pool's span, so rows stay in order.
        k = 0;
        ++round;
        state.PauseTiming();
        for (size_t j = 0; j < pool.size(); ++j) {
          std::string& p = pool[j].payload;
          size_t at = p.find(':') + 1, end = p.find(',');
          int64_t t = t0 + (round * 4 + static_cast<int64_t>(j / trucks)) * 10'000'000'000LL;
          p.replace(at, end - at, std::to_string(t));
        }
        state.ResumeTiming();
      }
      m.received_ns = t0;
      broker::Persistence::reset_tracker();
      auto outcome = ingest.take(m, publisher);
      if (outcome.reason != mqtt::ReasonCode::success) {
        state.SkipWithError(outcome.reason_string.c_str());
        break;
      }
    }
    state.SetItemsProcessed(state.iterations());
    ingest.stop();
  }
  std::filesystem::remove_all(dir);
}
// A fixed count: each run starts from an empty store, so that runs compare (heads growing,
// blocks sealing and page faults at the same points), not however far the timer let one go.
BENCHMARK(BM_IngestRuleReading)->Arg(1000)->Iterations(400000)->Unit(benchmark::kNanosecond);

}  // namespace
