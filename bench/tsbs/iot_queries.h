// iot_queries: TSBS's IoT query types (cmd/tsbs_generate_queries/uses/iot), each as TSBS's
// TimescaleDB SQL for PostgreSQL (cmd/tsbs_generate_queries/databases/timescaledb/iot.go: a
// `tags` table joined to `readings` / `diagnostics` by tags_id) and as the same question in
// mqbase's SQL, where tags are columns of the table itself and there are no joins. A query
// mqbase cannot ask today (window functions) has no mqbase text and says why.
//
// TSBS draws each query's fleet, truck and time window at random; here they are drawn once
// from the data's seed, so every run asks the same questions: a fleet is the fleet of a random
// truck (so it has trucks), a window starts at a random second of the data's span.
//
// Thread-safety: plain values.
#pragma once
#include <string>
#include <vector>

#include "iot_generator.h"

namespace mqbase::bench::tsbs {

struct IotQuery {
  std::string name;         // TSBS's label: "last-loc", "low-fuel", ...
  std::string postgres;     // TSBS's TimescaleDB SQL, parameters filled in
  std::string mqbase;       // the same question for mqbase; "" when it cannot be asked
  std::string unsupported;  // why not, when mqbase is ""
  std::string note;         // what the rewrite changes, and why the answer is the same
};

// The queries over the data `gen` makes (its trucks, span and seed), in TSBS's order.
std::vector<IotQuery> iot_queries(const IotGenerator& gen);

// "2016-01-01 05:12:40+00": a timestamp literal both PostgreSQL and mqbase read as UTC.
std::string sql_time(int64_t ns);

}  // namespace mqbase::bench::tsbs
