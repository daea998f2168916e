// sql_bench: the latency targets of docs/benchmarks.md#sql, in process (no HTTP): N rows of
// (time, device, 3 floats) for D devices, one reading every 10 s per device, written through the
// real store and flushed to block files; then each query runs R times and the median is
// reported, with the scan rate in points (rows x float columns) per second.
//
//   sql_bench [--rows N] [--devices D] [--runs R] [--dir DIR]
//
// Medians on a shared 2-core machine: compare figures of one run, not across runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "query/engine.h"
#include "store/store.h"
#include "store/tables.h"

namespace st = mqbase::store::tables;
using namespace mqbase;

namespace {

class CountSink : public query::ResultSink {
 public:
  void begin(const std::vector<query::ColumnInfo>&) override {}
  bool rows(const query::Chunk& c) override {
    rows_ += c.rows;
    return true;
  }
  uint64_t rows_ = 0;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  mqbase::query::keep_freed_memory();  // as mqbase serve does
  uint64_t rows = 10'000'000, devices = 1000;
  int runs = 5;
  int only = -1;  // --query K: run only the K-th query (1-based)
  std::string dir = "/tmp/mqbase-sql-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rows") rows = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--devices") devices = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--runs") runs = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--query") only = std::atoi(argv[i + 1]);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  st::TablesOptions topts;
  topts.dir = dir + "/tables";
  topts.memory_budget = 1ull << 30;
  topts.maintenance_interval = std::chrono::hours(1);
  auto tables = st::Tables::open(topts);
  store::StoreOptions sopts;
  sopts.dir = dir;
  sopts.durability = store::Durability::batch;
  sopts.progress_interval = std::chrono::milliseconds(0);
  st::Tables* t = tables.get();
  sopts.before_checkpoint = [t](store::Lsn covered) { return t->flush(covered); };
  auto store = store::Store::open(sopts, nullptr, [t](uint8_t type, store::Lsn lsn, std::string_view p) { t->replay(type, lsn, p); });
  tables->attach(*store);

  st::Schema s;
  s.name = "metrics";
  s.columns = {{"time", st::ColumnType::time}, {"device", st::ColumnType::tag}, {"v1", st::ColumnType::float64},
               {"v2", st::ColumnType::float64}, {"v3", st::ColumnType::float64}};
  store::Lsn lsn = 0;
  if (auto e = tables->create_table(s, false, &lsn); !e.empty()) {
    std::fprintf(stderr, "create: %s\n", e.c_str());
    return 1;
  }
  auto schema = tables->schema("metrics");
  const int64_t t0 = 1'704'067'200LL * 1'000'000'000LL;  // 2024-01-01 UTC
  const int64_t step = 10LL * 1'000'000'000LL;
  uint64_t per_device = rows / devices;
  auto load0 = std::chrono::steady_clock::now();
  // Batches of 100 steps x all devices.
  for (uint64_t k0 = 0; k0 < per_device; k0 += 100) {
    st::RowBatch b;
    b.table_id = schema->id;
    b.columns = static_cast<uint32_t>(schema->columns.size());
    b.fields.resize(3);
    for (auto& f : b.fields) f.type = st::ColumnType::float64;
    for (uint64_t d = 0; d < devices; ++d) b.series.push_back({"d" + std::to_string(d)});
    for (uint64_t k = k0; k < std::min(per_device, k0 + 100); ++k)
      for (uint64_t d = 0; d < devices; ++d) {
        b.row_series.push_back(static_cast<uint32_t>(d));
        b.times.push_back(t0 + static_cast<int64_t>(k) * step);
        double x = static_cast<double>((k * 7 + d * 13) % 1000) / 10.0;
        b.fields[0].push_f(x);
        b.fields[1].push_f(x * 0.5 + 20);
        b.fields[2].push_f(100 - x);
      }
    if (!tables->write(b).lsn) {
      std::fprintf(stderr, "write refused\n");
      return 1;
    }
  }
  store->checkpoint();
  double load_ms = ms_since(load0);
  auto info = tables->list();
  uint64_t bytes = 0;
  for (auto& i : info) bytes += i.bytes_on_disk;
  std::printf("loaded %llu rows (%llu devices) in %.1f s; %.2f bytes/row on disk\n",
              static_cast<unsigned long long>(per_device * devices), static_cast<unsigned long long>(devices),
              load_ms / 1000, static_cast<double>(bytes) / static_cast<double>(per_device * devices));

  query::Engine engine(tables.get(), nullptr);
  struct Q {
    const char* name;
    std::string sql;
    double target_ms;
    uint64_t points;  // values a full scan reads (scan rate), 0: not a scan
  };
  std::string day = "time >= '2024-01-01 00:00:00+00' AND time < '2024-01-02 00:00:00+00'";
  uint64_t n = per_device * devices;
  std::vector<Q> qs = {
      {"hourly avg/min/max of one device over one day",
       "SELECT time_bucket('1 hour', time) AS hour, avg(v1), min(v1), max(v1) FROM metrics WHERE device = 'd42' AND " + day +
           " GROUP BY hour ORDER BY hour",
       1, 0},
      {"latest reading of every device",
       "SELECT DISTINCT ON (device) device, time, v1, v2, v3 FROM metrics ORDER BY device, time DESC", 1, 0},
      {"average per device over all rows", "SELECT device, avg(v1) FROM metrics GROUP BY device", 50, n},
      {"sum of 3 columns over all rows", "SELECT sum(v1), sum(v2), sum(v3) FROM metrics", 0, 3 * n},
      {"count(*) over all rows", "SELECT count(*) FROM metrics", 0, 0},
      // A condition on a field: every block is decoded (no statistics), the decoding scan rate.
      {"sum(v1) WHERE v2 >= 0 (decodes every block)", "SELECT sum(v1) FROM metrics WHERE v2 >= 0", 0, 2 * n},
  };
  query::QueryOptions qo;
  qo.timeout = std::chrono::milliseconds(0);
  qo.memory_limit = 0;
  std::printf("%-48s %12s %12s %14s\n", "query", "median ms", "target ms", "points/s");
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    auto& q = qs[qi];
    if (only > 0 && static_cast<size_t>(only) != qi + 1) continue;
    std::vector<double> times;
    for (int r = 0; r < runs; ++r) {
      CountSink sink;
      auto q0 = std::chrono::steady_clock::now();
      auto status = engine.execute(q.sql, qo, sink);
      times.push_back(ms_since(q0));
      if (!status.ok) {
        std::fprintf(stderr, "%s: %s\n", q.name, status.describe().c_str());
        return 1;
      }
    }
    std::sort(times.begin(), times.end());
    double med = times[times.size() / 2];
    char target[32] = "-";
    if (q.target_ms > 0) std::snprintf(target, sizeof target, "%.0f", q.target_ms);
    char rate[32] = "-";
    if (q.points) std::snprintf(rate, sizeof rate, "%.0f M", static_cast<double>(q.points) / (med / 1000) / 1e6);
    std::printf("%-48s %12.2f %12s %14s\n", q.name, med, target, rate);
  }
  tables->close();
  store->close();
  std::filesystem::remove_all(dir);
  return 0;
}
