// IotGenerator: the data of TSBS's "iot" use case (github.com/timescale/tsbs,
// pkg/data/usecases/iot), deterministic for a seed: trucks with tags (name, fleet, driver,
// model, device_version and the model's load_capacity, fuel_capacity and
// nominal_fuel_consumption), and per truck and 10-second epoch one row of `readings`
// (latitude, longitude, elevation, velocity, heading, grade, fuel_consumption) and one of
// `diagnostics` (fuel_state, current_load, status).
//
// What is kept from TSBS, because the queries see it:
//   - the distributions: clamped random walks with TSBS's steps, bounds, starting states and
//     truncation to 5, 1 or 0 decimals; fuel_state walks down by up to 0.001 per epoch and
//     refuels at 0; current_load jumps to a new uniform value with probability 0.05; status is
//     a clamped walk of normal steps in [0, 5]. Epoch 0 has the starting states.
//   - missing rows: a batch of 10 consecutive trucks of one table and epoch is missing with
//     probability 0.01, a single row with probability 0.1 (TSBS's batch and entry chances);
//   - NULL fields: a row has one field NULL with probability 0.1 (the field index drawn as
//     TSBS draws it: 0..6, modulo the table's field count);
//   - NULL names: a row has one of its 8 tags zeroed with probability 0.01. TSBS's TimescaleDB
//     loader keys its tag cache by name, so a zeroed tag other than name changes nothing; a
//     zeroed name puts the row under a tag set with name NULL (here: the truck's other tags,
//     so the trucks' NULL-name rows make one tag set per distinct remaining tuple).
// Not kept: out-of-order insertion (it changes the order rows arrive in, not their content),
// and TSBS's own random sequence (Go's math/rand): the values differ, their laws do not.
//
// Each truck's walks draw from the truck's own generator and each row's missing/NULL
// decisions from a hash of (seed, table, epoch, truck), so the rows do not depend on how the
// caller batches or splits the work.
//
// Thread-safety: a plain object, used by one thread.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace mqbase::bench::tsbs {

constexpr int64_t kNanos = 1'000'000'000;

struct IotConfig {
  uint64_t trucks = 100;
  int64_t start_ns = 1'451'606'400LL * kNanos;  // 2016-01-01 00:00:00 UTC, TSBS's default start
  int64_t epochs = 3 * 8640;                    // 10 s epochs: 3 days
  int64_t interval_ns = 10 * kNanos;
  uint64_t seed = 123;
};

struct Truck {
  std::string name, fleet, driver, model, device_version;
  double load_capacity = 0, fuel_capacity = 0, nominal_fuel_consumption = 0;
};

enum class IotTable : uint8_t { readings = 0, diagnostics = 1 };

constexpr int kReadingFields = 7;     // latitude .. fuel_consumption
constexpr int kDiagnosticFields = 3;  // fuel_state, current_load, status
constexpr int kTagColumns = 8;        // name .. nominal_fuel_consumption

// One row. `nulls` has bit i set when field i is NULL (its value is then 0).
struct IotRow {
  uint32_t truck = 0;
  bool name_null = false;
  int64_t time_ns = 0;
  uint8_t nulls = 0;
  double v[kReadingFields] = {};
};

class IotGenerator {
 public:
  explicit IotGenerator(const IotConfig& config);

  const IotConfig& config() const { return config_; }
  const std::vector<Truck>& trucks() const { return trucks_; }
  int64_t epoch() const { return epoch_; }  // the next epoch next_epoch() emits
  bool done() const { return epoch_ >= config_.epochs; }

  // Emits the rows of the next epoch that are not missing: every truck's readings row, then
  // every truck's diagnostics row, fn(IotTable, const IotRow&) each; then advances the walks.
  template <class Fn>
  void next_epoch(Fn&& fn);

  // The tag columns' names in table order, and a truck's values as text (capacities as
  // PostgreSQL prints a float: "2000", "12"); the name is "" when name_null.
  static const char* const kTagNames[kTagColumns];
  static const char* const kReadingNames[kReadingFields];
  static const char* const kDiagnosticNames[kDiagnosticFields];
  std::vector<std::string> tag_values(uint32_t truck, bool name_null) const;

 private:
  struct Walks {
    uint64_t s[4];  // xoshiro256** state
    double lat, lon, elevation, velocity, heading, grade, fuel_consumption;
    double fuel_state, load, status;
  };

  static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  static double unit(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }
  static uint64_t next(Walks& w);
  static double uniform(Walks& w, double lo, double hi) { return lo + unit(next(w)) * (hi - lo); }
  static double normal(Walks& w);
  // TSBS's FloatPrecision: truncation toward zero to `digits` decimals.
  static double truncate(double x, double scale) { return static_cast<double>(static_cast<int64_t>(x * scale)) / scale; }
  static double clamp_walk(double state, double step, double lo, double hi) {
    state += step;
    return state > hi ? hi : state < lo ? lo : state;
  }
  void advance(Walks& w);

  IotConfig config_;
  std::vector<Truck> trucks_;
  std::vector<Walks> walks_;
  int64_t epoch_ = 0;
};

template <class Fn>
void IotGenerator::next_epoch(Fn&& fn) {
  const int64_t t = config_.start_ns + epoch_ * config_.interval_ns;
  const uint32_t n = static_cast<uint32_t>(trucks_.size());
  for (int table = 0; table < 2; ++table) {
    const uint64_t base = mix(mix(config_.seed ^ (0x5157ULL + static_cast<uint64_t>(table))) + static_cast<uint64_t>(epoch_));
    bool batch_missing = false;
    for (uint32_t k = 0; k < n; ++k) {
      if (k % 10 == 0) batch_missing = unit(mix(base + 0x100000000ULL + k / 10)) < 0.01;
      if (batch_missing) continue;
      const uint64_t h = mix(base + k);
      if (unit(mix(h + 1)) < 0.1) continue;  // a missing entry
      IotRow row;
      row.truck = k;
      row.time_ns = t;
      const Walks& w = walks_[k];
      if (table == 0) {
        row.v[0] = truncate(w.lat, 1e5);
        row.v[1] = truncate(w.lon, 1e5);
        row.v[2] = truncate(w.elevation, 1);
        row.v[3] = truncate(w.velocity, 1);
        row.v[4] = truncate(w.heading, 1);
        row.v[5] = truncate(w.grade, 1);
        row.v[6] = truncate(w.fuel_consumption, 10);
      } else {
        row.v[0] = truncate(w.fuel_state, 10);
        row.v[1] = truncate(w.load, 1);
        row.v[2] = truncate(w.status, 1);
      }
      if (unit(mix(h + 2)) < 0.1) {
        int field = static_cast<int>(mix(h + 3) % kReadingFields);
        if (table == 1) field %= kDiagnosticFields;
        row.nulls = static_cast<uint8_t>(1u << field);
        row.v[field] = 0;
      }
      if (unit(mix(h + 4)) < 0.01) row.name_null = mix(h + 5) % kTagColumns == 0;
      fn(static_cast<IotTable>(table), static_cast<const IotRow&>(row));
    }
  }
  for (auto& w : walks_) advance(w);
  ++epoch_;
}

}  // namespace mqbase::bench::tsbs
