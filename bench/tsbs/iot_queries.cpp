#include "iot_queries.h"

#include <cinttypes>
#include <cstdio>

namespace mqbase::bench::tsbs {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Replaces every {key} in `text`.
std::string fill(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    const std::string k = "{" + key + "}";
    for (size_t at = text.find(k); at != std::string::npos; at = text.find(k, at + value.size())) text.replace(at, k.size(), value);
  }
  return text;
}

// TSBS's tenMinutePeriods: the 10-minute periods left in `hours` after resting
// `minutes_per_hour` minutes every hour.
int ten_minute_periods(double minutes_per_hour, double hours) {
  return static_cast<int>((hours * 60 - minutes_per_hour * hours) / 10);
}

// Every tag column: what TSBS's tags_id stands for (one row of `tags` per distinct tag set).
constexpr const char* kAllTags =
    "name, fleet, driver, model, device_version, load_capacity, fuel_capacity, nominal_fuel_consumption";

}  // namespace

std::string sql_time(int64_t ns) {
  int64_t secs = ns / kNanos;
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02" PRId64 "-%02" PRId64 " %02" PRId64 ":%02" PRId64 ":%02" PRId64 "+00", y, m, d,
                rem / 3600, rem / 60 % 60, rem % 60);
  return buf;
}

std::vector<IotQuery> iot_queries(const IotGenerator& gen) {
  const IotConfig& c = gen.config();
  uint64_t draw = mix(c.seed ^ 0x71756572ULL);
  auto random = [&draw](uint64_t n) { return (draw = mix(draw)) % n; };
  auto fleet = [&] { return gen.trucks()[random(gen.trucks().size())].fleet; };
  const int64_t span = c.epochs * c.interval_ns;
  // TSBS's RandWindow: [start, start + window) inside the data's span (at its start when the
  // span is shorter than the window), here at a whole second.
  auto window = [&](int64_t width) {
    int64_t room = (span - width) / kNanos;
    int64_t from = c.start_ns + (room > 0 ? static_cast<int64_t>(random(static_cast<uint64_t>(room))) * kNanos : 0);
    return std::pair{sql_time(from), sql_time(from + width)};
  };
  const int64_t hour = 3600 * kNanos;

  std::vector<IotQuery> qs;
  {
    IotQuery q{"last-loc", "", "", "", ""};
    auto f = fleet();
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver, r.*
FROM tags t INNER JOIN LATERAL
  (SELECT longitude, latitude
   FROM readings r
   WHERE r.tags_id=t.id
   ORDER BY time DESC LIMIT 1) r ON true
WHERE t.name IS NOT NULL
AND t.fleet = '{fleet}')",
                      {{"fleet", f}});
    q.mqbase = fill(R"(SELECT DISTINCT ON (name) name, driver, longitude, latitude
FROM readings
WHERE fleet = '{fleet}' AND name <> ''
ORDER BY name, time DESC)",
                    {{"fleet", f}});
    q.note = "the latest row per truck as DISTINCT ON; a NULL tag reads as '' in mqbase, so name IS NOT NULL is name <> ''";
    qs.push_back(q);
  }
  {
    IotQuery q{"single-last-loc", "", "", "", ""};
    auto truck = gen.trucks()[random(gen.trucks().size())].name;
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver, r.*
FROM tags t INNER JOIN LATERAL
  (SELECT longitude, latitude
   FROM readings r
   WHERE r.tags_id=t.id
   ORDER BY time DESC LIMIT 1) r ON true
WHERE t.name IN ('{truck}'))",
                      {{"truck", truck}});
    q.mqbase = fill(R"(SELECT DISTINCT ON (name) name, driver, longitude, latitude
FROM readings
WHERE name IN ('{truck}')
ORDER BY name, time DESC)",
                    {{"truck", truck}});
    q.note = "the latest row of one truck as DISTINCT ON";
    qs.push_back(q);
  }
  {
    IotQuery q{"low-fuel", "", "", "", ""};
    auto f = fleet();
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver, d.*
FROM tags t INNER JOIN LATERAL
  (SELECT fuel_state
   FROM diagnostics d
   WHERE d.tags_id=t.id
   ORDER BY time DESC LIMIT 1) d ON true
WHERE t.name IS NOT NULL
AND d.fuel_state < 0.1
AND t.fleet = '{fleet}')",
                      {{"fleet", f}});
    q.mqbase = fill(R"(SELECT name, driver, fuel_state
FROM (SELECT DISTINCT ON (name) name, driver, fuel_state
      FROM diagnostics
      WHERE fleet = '{fleet}' AND name <> ''
      ORDER BY name, time DESC) d
WHERE fuel_state < 0.1)",
                    {{"fleet", f}});
    q.note = "the latest row per truck as DISTINCT ON in a subquery, the condition on it outside";
    qs.push_back(q);
  }
  {
    IotQuery q{"high-load", "", "", "", ""};
    auto f = fleet();
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver, d.*
FROM tags t INNER JOIN LATERAL
  (SELECT current_load
   FROM diagnostics d
   WHERE d.tags_id=t.id
   ORDER BY time DESC LIMIT 1) d ON true
WHERE t.name IS NOT NULL
AND d.current_load/t.load_capacity > 0.9
AND t.fleet = '{fleet}')",
                      {{"fleet", f}});
    q.mqbase = fill(R"(SELECT name, driver, current_load
FROM (SELECT DISTINCT ON (name) name, driver, current_load, load_capacity
      FROM diagnostics
      WHERE fleet = '{fleet}' AND name <> ''
      ORDER BY name, time DESC) d
WHERE current_load / load_capacity::double precision > 0.9)",
                    {{"fleet", f}});
    q.note = "as low-fuel; load_capacity is a tag (text) in mqbase, so it is cast";
    qs.push_back(q);
  }
  {
    IotQuery q{"stationary-trucks", "", "", "", ""};
    auto f = fleet();
    auto [from, to] = window(10 * 60 * kNanos);
    std::vector<std::pair<std::string, std::string>> v = {{"fleet", f}, {"from", from}, {"to", to}};
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver
FROM tags t
INNER JOIN readings r ON r.tags_id = t.id
WHERE time >= '{from}' AND time < '{to}'
AND t.name IS NOT NULL
AND t.fleet = '{fleet}'
GROUP BY 1, 2
HAVING avg(r.velocity) < 1)",
                      v);
    q.mqbase = fill(R"(SELECT name, driver
FROM readings
WHERE time >= '{from}' AND time < '{to}'
AND name <> ''
AND fleet = '{fleet}'
GROUP BY 1, 2
HAVING avg(velocity) < 1)",
                    v);
    q.note = "the join to tags dropped: the tags are columns";
    qs.push_back(q);
  }
  auto sessions = [&](const char* name, int64_t width, int periods) {
    IotQuery q{name, "", "", "", ""};
    auto f = fleet();
    auto [from, to] = window(width);
    std::vector<std::pair<std::string, std::string>> v = {
        {"fleet", f}, {"from", from}, {"to", to}, {"periods", std::to_string(periods)}};
    q.postgres = fill(R"(SELECT t.name AS name, t.driver AS driver
FROM tags t
INNER JOIN LATERAL
  (SELECT time_bucket('10 minutes', time) AS ten_minutes, tags_id
   FROM readings
   WHERE time >= '{from}' AND time < '{to}'
   GROUP BY ten_minutes, tags_id
   HAVING avg(velocity) > 1
   ORDER BY ten_minutes, tags_id) AS r ON t.id = r.tags_id
WHERE t.name IS NOT NULL
AND t.fleet = '{fleet}'
GROUP BY name, driver
HAVING count(r.ten_minutes) > {periods})",
                      v);
    q.mqbase = fill(R"(SELECT name, driver
FROM (SELECT time_bucket('10 minutes', time) AS ten_minutes, name, driver
      FROM readings
      WHERE time >= '{from}' AND time < '{to}'
      AND name <> '' AND fleet = '{fleet}'
      GROUP BY ten_minutes, name, driver
      HAVING avg(velocity) > 1) r
GROUP BY name, driver
HAVING count(r.ten_minutes) > {periods})",
                    v);
    q.note = "the join becomes a subquery over the same table, the tag conditions inside it";
    return q;
  };
  // TSBS: driving sessions of 4 hours with less than 5 minutes of rest per hour; more than
  // 10 hours of driving in a day (35 minutes of rest per hour).
  qs.push_back(sessions("long-driving-sessions", 4 * hour, ten_minute_periods(5, 4)));
  qs.push_back(sessions("long-daily-sessions", 24 * hour, ten_minute_periods(35, 24)));
  {
    IotQuery q{"avg-vs-projected-fuel-consumption", "", "", "", ""};
    q.postgres = R"(SELECT t.fleet AS fleet, avg(r.fuel_consumption) AS avg_fuel_consumption,
avg(t.nominal_fuel_consumption) AS projected_fuel_consumption
FROM tags t
INNER JOIN LATERAL(SELECT tags_id, fuel_consumption FROM readings r WHERE r.tags_id = t.id AND velocity > 1) r ON true
WHERE t.fleet IS NOT NULL
AND t.nominal_fuel_consumption IS NOT NULL
AND t.name IS NOT NULL
GROUP BY fleet)";
    q.mqbase = R"(SELECT fleet, avg(fuel_consumption) AS avg_fuel_consumption,
avg(nominal_fuel_consumption::double precision) AS projected_fuel_consumption
FROM readings
WHERE velocity > 1
AND fleet <> '' AND nominal_fuel_consumption <> '' AND name <> ''
GROUP BY fleet)";
    q.note = "one table; nominal_fuel_consumption is a tag (text), so it is cast";
    qs.push_back(q);
  }
  {
    IotQuery q{"avg-daily-driving-duration", "", "", "", ""};
    q.postgres = R"(WITH ten_minute_driving_sessions
AS (
  SELECT time_bucket('10 minutes', TIME) AS ten_minutes, tags_id
  FROM readings r
  GROUP BY tags_id, ten_minutes
  HAVING avg(velocity) > 1
  ), daily_total_session
AS (
  SELECT time_bucket('24 hours', ten_minutes) AS day, tags_id, count(*) / 6 AS hours
  FROM ten_minute_driving_sessions
  GROUP BY day, tags_id
  )
SELECT t.fleet AS fleet, t.name AS name, t.driver AS driver, avg(d.hours) AS avg_daily_hours
FROM daily_total_session d
INNER JOIN tags t ON t.id = d.tags_id
GROUP BY fleet, name, driver)";
    q.mqbase = fill(R"(WITH ten_minute_driving_sessions
AS (
  SELECT time_bucket('10 minutes', time) AS ten_minutes, {tags}
  FROM readings
  GROUP BY {tags}, ten_minutes
  HAVING avg(velocity) > 1
  ), daily_total_session
AS (
  SELECT time_bucket('24 hours', ten_minutes) AS day, name, fleet, driver, count(*) / 6 AS hours
  FROM ten_minute_driving_sessions
  GROUP BY day, {tags}
  )
SELECT fleet, nullif(name, '') AS name, driver, avg(hours) AS avg_daily_hours
FROM daily_total_session
GROUP BY fleet, name, driver)",
                    {{"tags", kAllTags}});
    q.note = "tags_id becomes all eight tag columns (one tags row per distinct tag set); TSBS has no name filter "
             "here, so the NULL-name tag sets are answered too ('' shown as NULL)";
    qs.push_back(q);
  }
  {
    IotQuery q{"avg-daily-driving-session", "", "", "", ""};
    q.postgres = R"(WITH driver_status
AS (
  SELECT tags_id, time_bucket('10 mins', TIME) AS ten_minutes, avg(velocity) > 5 AS driving
  FROM readings
  GROUP BY tags_id, ten_minutes
  ORDER BY tags_id, ten_minutes
  ), driver_status_change
AS (
  SELECT tags_id, ten_minutes AS start, lead(ten_minutes) OVER (PARTITION BY tags_id ORDER BY ten_minutes) AS stop, driving
  FROM (
    SELECT tags_id, ten_minutes, driving, lag(driving) OVER (PARTITION BY tags_id ORDER BY ten_minutes) AS prev_driving
    FROM driver_status
    ) x
  WHERE x.driving <> x.prev_driving
  )
SELECT t.name AS name, time_bucket('24 hours', start) AS day, avg(age(stop, start)) AS duration
FROM tags t
INNER JOIN driver_status_change d ON t.id = d.tags_id
WHERE t.name IS NOT NULL
AND d.driving = true
GROUP BY name, day
ORDER BY name, day)";
    q.mqbase = fill(R"(WITH driver_status
AS (
  SELECT {tags}, time_bucket('10 minutes', time) AS ten_minutes, avg(velocity) > 5 AS driving
  FROM readings
  WHERE name <> ''
  GROUP BY {tags}, ten_minutes
  ), driver_status_change
AS (
  SELECT name, ten_minutes AS start, lead(ten_minutes) OVER (PARTITION BY {tags} ORDER BY ten_minutes) AS stop, driving
  FROM (
    SELECT {tags}, ten_minutes, driving, lag(driving) OVER (PARTITION BY {tags} ORDER BY ten_minutes) AS prev_driving
    FROM driver_status
    ) x
  WHERE x.driving <> x.prev_driving
  )
SELECT name, time_bucket('24 hours', start) AS day, avg(stop - start) AS duration
FROM driver_status_change
WHERE driving = true
GROUP BY name, day
ORDER BY name, day)",
                    {{"tags", kAllTags}});
    q.note = "tags_id becomes all eight tag columns in PARTITION BY (one tags row per distinct tag set), so no join; "
             "the name filter moves into the first step (a tag: decided once per series); age(stop, start) is "
             "stop - start (the same length within a month, in UTC)";
    qs.push_back(q);
  }
  {
    IotQuery q{"avg-load", "", "", "", ""};
    q.postgres = R"(SELECT t.fleet AS fleet, t.model AS model, t.load_capacity AS load_capacity, avg(d.avg_load / t.load_capacity) AS avg_load_percentage
FROM tags t
INNER JOIN (
  SELECT tags_id, avg(current_load) AS avg_load
  FROM diagnostics d
  GROUP BY tags_id
  ) d ON t.id = d.tags_id
WHERE t.name IS NOT NULL
GROUP BY fleet, model, load_capacity)";
    q.mqbase = R"(SELECT fleet, model, load_capacity::double precision AS load_capacity,
avg(avg_load / load_capacity::double precision) AS avg_load_percentage
FROM (
  SELECT name, fleet, model, load_capacity, avg(current_load) AS avg_load
  FROM diagnostics
  WHERE name <> ''
  GROUP BY name, fleet, model, load_capacity
  ) d
GROUP BY fleet, model, load_capacity)";
    q.note = "the join becomes a subquery per truck (a non-NULL name is one tag set); load_capacity cast from text";
    qs.push_back(q);
  }
  {
    IotQuery q{"daily-activity", "", "", "", ""};
    q.postgres = R"(SELECT t.fleet AS fleet, t.model AS model, y.day, sum(y.ten_mins_per_day) / 144 AS daily_activity
FROM tags t
INNER JOIN (
  SELECT time_bucket('24 hours', TIME) AS day, time_bucket('10 minutes', TIME) AS ten_minutes, tags_id, count(*) AS ten_mins_per_day
  FROM diagnostics
  GROUP BY day, ten_minutes, tags_id
  HAVING avg(STATUS) < 1
  ) y ON y.tags_id = t.id
WHERE t.name IS NOT NULL
GROUP BY fleet, model, y.day
ORDER BY y.day)";
    q.mqbase = R"(SELECT fleet, model, day, sum(ten_mins_per_day) / 144.0 AS daily_activity
FROM (
  SELECT time_bucket('24 hours', time) AS day, time_bucket('10 minutes', time) AS ten_minutes, name, fleet, model,
         count(*) AS ten_mins_per_day
  FROM diagnostics
  WHERE name <> ''
  GROUP BY day, ten_minutes, name, fleet, model
  HAVING avg(status) < 1
  ) y
GROUP BY fleet, model, day
ORDER BY day)";
    q.note = "the join becomes a subquery; / 144.0 because PostgreSQL's sum(bigint) is numeric (its division keeps "
             "the fraction) and mqbase's is bigint (its division would truncate)";
    qs.push_back(q);
  }
  {
    IotQuery q{"breakdown-frequency", "", "", "", ""};
    q.postgres = R"(WITH breakdown_per_truck_per_ten_minutes
AS (
  SELECT time_bucket('10 minutes', TIME) AS ten_minutes, tags_id, count(STATUS = 0) / count(*) >= 0.5 AS broken_down
  FROM diagnostics
  GROUP BY ten_minutes, tags_id
  ), breakdowns_per_truck
AS (
  SELECT ten_minutes, tags_id, broken_down, lead(broken_down) OVER (
      PARTITION BY tags_id ORDER BY ten_minutes
      ) AS next_broken_down
  FROM breakdown_per_truck_per_ten_minutes
  )
SELECT t.model AS model, count(*)
FROM tags t
INNER JOIN breakdowns_per_truck b ON t.id = b.tags_id
WHERE t.name IS NOT NULL
AND broken_down = false AND next_broken_down = true
GROUP BY model)";
    q.mqbase = fill(R"(WITH breakdown_per_truck_per_ten_minutes
AS (
  SELECT time_bucket('10 minutes', time) AS ten_minutes, {tags}, count(status = 0) / count(*) >= 0.5 AS broken_down
  FROM diagnostics
  WHERE name <> ''
  GROUP BY ten_minutes, {tags}
  ), breakdowns_per_truck
AS (
  SELECT ten_minutes, model, broken_down, lead(broken_down) OVER (
      PARTITION BY {tags} ORDER BY ten_minutes
      ) AS next_broken_down
  FROM breakdown_per_truck_per_ten_minutes
  )
SELECT nullif(model, '') AS model, count(*)
FROM breakdowns_per_truck
WHERE broken_down = false AND next_broken_down = true
GROUP BY model)",
                    {{"tags", kAllTags}});
    q.note = "tags_id becomes all eight tag columns in PARTITION BY, so no join; the name filter moves into the "
             "first step; a NULL model reads as '' in mqbase, shown as NULL";
    qs.push_back(q);
  }
  return qs;
}

}  // namespace mqbase::bench::tsbs
