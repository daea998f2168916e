#include "iot_generator.h"

#include <charconv>

namespace mqbase::bench::tsbs {
namespace {

struct Model {
  const char* name;
  double load_capacity, fuel_capacity, fuel_consumption;
};

// TSBS's choices (pkg/data/usecases/iot/truck.go).
constexpr Model kModels[] = {{"F-150", 2000, 200, 15}, {"G-2000", 5000, 300, 19}, {"H-2", 1500, 150, 12}};
constexpr const char* kDrivers[] = {"Derek", "Rodney", "Albert", "Andy", "Seth", "Trish"};
constexpr const char* kDeviceVersions[] = {"v1.0", "v1.5", "v2.0", "v2.3"};
constexpr const char* kFleets[] = {"East", "West", "North", "South"};

std::string number_text(double x) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

}  // namespace

const char* const IotGenerator::kTagNames[kTagColumns] = {
    "name", "fleet", "driver", "model", "device_version", "load_capacity", "fuel_capacity", "nominal_fuel_consumption"};
const char* const IotGenerator::kReadingNames[kReadingFields] = {
    "latitude", "longitude", "elevation", "velocity", "heading", "grade", "fuel_consumption"};
const char* const IotGenerator::kDiagnosticNames[kDiagnosticFields] = {"fuel_state", "current_load", "status"};

IotGenerator::IotGenerator(const IotConfig& config) : config_(config) {
  trucks_.reserve(config.trucks);
  walks_.resize(config.trucks);
  for (uint64_t i = 0; i < config.trucks; ++i) {
    Walks& w = walks_[i];
    uint64_t s = mix(config.seed ^ 0x7472756bULL) + i * 0x632be59bd9b4e019ULL;
    for (auto& x : w.s) x = s = mix(s);
    // The tags, drawn as TSBS draws them (model, then fleet, driver, device version).
    const Model& m = kModels[next(w) % 3];
    Truck t;
    t.name = "truck_" + std::to_string(i);
    t.fleet = kFleets[next(w) % 4];
    t.driver = kDrivers[next(w) % 6];
    t.model = m.name;
    t.device_version = kDeviceVersions[next(w) % 4];
    t.load_capacity = m.load_capacity;
    t.fuel_capacity = m.fuel_capacity;
    t.nominal_fuel_consumption = m.fuel_consumption;
    trucks_.push_back(std::move(t));
    // Starting states (pkg/data/usecases/iot/readings.go, diagnostics.go).
    w.lat = unit(next(w)) * 90.0;
    w.lon = unit(next(w)) * 180.0;
    w.elevation = unit(next(w)) * 500.0;
    w.velocity = 0;
    w.heading = unit(next(w)) * 360.0;
    w.grade = 0;
    w.fuel_consumption = 25;
    w.fuel_state = 1.0;
    w.load = 0;  // a lazy distribution reads 0 until its first jump
    w.status = 0;
  }
}

uint64_t IotGenerator::next(Walks& w) {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  uint64_t* s = w.s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double IotGenerator::normal(Walks& w) {
  double u1 = 1.0 - unit(next(w));  // (0, 1]
  double u2 = unit(next(w));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

void IotGenerator::advance(Walks& w) {
  w.lat = clamp_walk(w.lat, uniform(w, -0.005, 0.005), -90, 90);
  w.lon = clamp_walk(w.lon, uniform(w, -0.005, 0.005), -180, 180);
  w.elevation = clamp_walk(w.elevation, uniform(w, -10, 10), 0, 5000);
  w.velocity = clamp_walk(w.velocity, uniform(w, -10, 10), 0, 100);
  w.heading = clamp_walk(w.heading, uniform(w, -5, 5), 0, 360);
  w.grade = clamp_walk(w.grade, uniform(w, -5, 5), 0, 100);
  w.fuel_consumption = clamp_walk(w.fuel_consumption, uniform(w, -5, 5), 0, 50);
  w.fuel_state = clamp_walk(w.fuel_state, uniform(w, -0.001, 0), 0, 1);
  if (w.fuel_state == 0) w.fuel_state = 1;  // refuelled
  if (unit(next(w)) >= 0.95) w.load = uniform(w, 0, 5000);
  w.status = clamp_walk(w.status, normal(w), 0, 5);
}

std::vector<std::string> IotGenerator::tag_values(uint32_t truck, bool name_null) const {
  const Truck& t = trucks_[truck];
  return {name_null ? std::string() : t.name, t.fleet, t.driver, t.model, t.device_version,
          number_text(t.load_capacity), number_text(t.fuel_capacity), number_text(t.nominal_fuel_consumption)};
}

}  // namespace mqbase::bench::tsbs
