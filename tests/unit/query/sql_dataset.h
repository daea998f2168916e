// sql_dataset: the fixed data set of the SQL conformance tests (conformance_test.cpp, the
// .test files in conformance/), of the differential test against PostgreSQL
// (tests/integration/test_sql_postgres.py) and of anything else that wants known rows: three
// tables, built by formula (no randomness), the same on every call and on every machine.
//
//   readings (time TIME, device TAG, site TAG, temp DOUBLE, hum DOUBLE, cnt BIGINT,
//             ok BOOLEAN, note VARCHAR)
//     d1..d5 every 30 minutes from 2023-12-31 12:00 to 2024-01-02 11:30 UTC, device di offset
//     by (i-1)*5 minutes (d1 has rows at 23:30 and 00:30 around the midnight of 2024-01-01);
//     d1..d3 at site 'north', d4..d6 at 'south'. d2 misses 02:05..03:35 on 2024-01-01 (a gap),
//     d3 ends three hours early, d6 has one row (2024-01-01 23:59:59.5, a fraction of a second).
//     NULLs: temp of d3 every tenth step, hum of d1 every twelfth and of d5 every second step,
//     cnt of d4 always, ok every sixteenth, note mostly (a few 'boot', 'check 50%', 'maint_x',
//     'Alarm: high', and one empty string). Negative temps (d5) and cnt values.
//     All doubles are multiples of 0.25, so sums are exact in any order.
//   tag (name TAG, time TIME, value DOUBLE): machbase-neo's tag table; sensor.a and sensor.b
//     every minute of 2024-01-01 00:00..00:59 (sensor.b NULL every twentieth), sensor.c six
//     sparse rows (gap filling).
//   empty_t (time TIME, device TAG, v DOUBLE): no rows.
//
// The same rows come out three ways: through the real store into a data directory
// (DatasetStore), as PostgreSQL 15 SQL (postgres_sql), and as JSON for loading a running
// server (dataset_json).
//
// Thread-safety: sql_dataset() is safe from any thread (built once); DatasetStore is used by
// one thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "query/value.h"
#include "store/table_schema.h"

namespace mqbase::store {
class Store;
namespace tables {
class Tables;
}
}  // namespace mqbase::store

namespace mqbase::query::test {

// 2024-01-02 12:00:00 UTC: now() in the conformance cases (just after the last row).
constexpr int64_t kDatasetNowNs = 1'704'196'800LL * 1'000'000'000LL;

// One table: its schema and its rows, one Value per schema column in column order (time as
// Type::timestamp, tags as text, fields by type; a NULL field is a NULL Value).
struct DatasetTable {
  store::tables::Schema schema;
  std::vector<std::vector<Value>> rows;
};

// readings, tag, empty_t (in that order), built on first use.
const std::vector<DatasetTable>& sql_dataset();

// A data directory holding the data set, written through the real store: Tables with small
// blocks (16 rows), the first day's rows flushed to block files by a checkpoint, the rest in
// memory blocks and heads, and one late row of d2 in its series' overflow, so that reads cross
// every place rows live. The store runs with Durability::none.
class DatasetStore {
 public:
  // Creates the tables in `dir` (made if missing; must hold no data directory yet). Throws
  // std::runtime_error naming the step that failed.
  explicit DatasetStore(const std::string& dir);
  ~DatasetStore();  // closes the tables and the store; leaves `dir`
  DatasetStore(const DatasetStore&) = delete;
  DatasetStore& operator=(const DatasetStore&) = delete;

  store::tables::Tables& tables() { return *tables_; }
  store::Store& store() { return *store_; }

 private:
  std::unique_ptr<store::tables::Tables> tables_;
  std::unique_ptr<store::Store> store_;
};

// PostgreSQL 15: CREATE TABLE per table (timestamptz, text, double precision, bigint, boolean)
// and the INSERTs, ending with ANALYZE. Timestamps are written in UTC with an offset, so the
// script loads the same instants whatever the session's TimeZone.
std::string postgres_sql();

// The data set for a running mqbase: {"now_ns":..., "tables":[{"name":"readings",
// "columns":["time TIME","device TAG",...], "pg_types":[...], "rows":[[ns, "d1", ...], ...]}]}
// (neo's column definitions as a [[table]] of the config takes them; times in ns; NULL null).
std::string dataset_json();

// ns since the epoch as PostgreSQL shows a timestamptz in a UTC session:
// "2024-01-01 00:00:00+00", "2024-01-01 23:59:59.5+00" (fraction without trailing zeros).
std::string format_timestamp(int64_t ns);

// One value as a PostgreSQL literal ('2024-01-01 00:00:00+00', 21.5, NULL, true, 'text').
std::string postgres_literal(const Value& v);

}  // namespace mqbase::query::test
