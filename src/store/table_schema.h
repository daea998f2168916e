// table_schema: what a time-series table is (docs/tables.md): its columns, and the options
// that say how its rows are kept (partition size, retention, out-of-order window, duplicate
// policy, disk budget). A schema is a value: a change (a new field) makes a new Schema with
// the next version; rows written under an older version have fewer fields, never other ones.
//
// A table has exactly one `time` column (nanoseconds since the epoch), zero or more tag
// columns (strings; their values name a series) and one or more field columns. machbase-neo's
// tag table is the schema (name TAG, time TIME, value DOUBLE).
//
// Names are case-insensitive and stored in lower case (as PostgreSQL folds unquoted names):
// a letter or '_', then letters, digits or '_', at most 63 bytes.
//
// Thread-safety: plain values; Tables hands them out as shared_ptr<const Schema>.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::store::tables {

enum class ColumnType : uint8_t { time = 1, tag = 2, float64 = 3, int64 = 4, boolean = 5, varchar = 6, json = 7 };

// "TIME", "TAG", "DOUBLE", "BIGINT", "BOOLEAN", "VARCHAR", "JSON".
std::string_view type_name(ColumnType t);
// The inverse, case-insensitive, with the usual synonyms (FLOAT, FLOAT8, INT, INTEGER,
// TIMESTAMP, TEXT, STRING, BOOL, DOUBLE PRECISION); nullopt when unknown.
std::optional<ColumnType> parse_type_name(std::string_view name);
bool is_field(ColumnType t);

// What happens when a series receives a second row with the same time.
enum class DuplicatePolicy : uint8_t { keep_last = 0, keep_first = 1, keep_all = 2 };
std::string_view policy_name(DuplicatePolicy p);  // "last", "first", "all"
std::optional<DuplicatePolicy> parse_policy(std::string_view name);

struct Column {
  std::string name;
  ColumnType type = ColumnType::float64;
  bool operator==(const Column&) const = default;
};

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kDay = 86'400 * kNanosPerSecond;

struct TableOptions {
  int64_t partition_ns = kDay;  // partitions are [k * partition_ns, (k + 1) * partition_ns)
  int64_t ttl_ns = 0;           // 0: keep forever; else partitions that end before now - ttl go
  // A series' rows are sorted in memory; one whose time is this far behind the series' newest
  // still merges in place; an older one goes to the series' overflow (merged at compaction).
  int64_t ooo_window_ns = 3600 * kNanosPerSecond;
  DuplicatePolicy duplicates = DuplicatePolicy::keep_last;
  uint64_t disk_budget = 0;     // bytes of block files; 0: none. Past it, writes are refused.
  // DELETE FROM t WHERE time < x: rows older than this are gone (reads skip them; retention
  // drops the partitions wholly before it). INT64_MIN: none.
  int64_t deleted_before = INT64_MIN;
  bool operator==(const TableOptions&) const = default;
};

struct Schema {
  uint32_t id = 0;  // stable for the table's life; names its directory
  uint32_t version = 1;
  std::string name;
  std::vector<Column> columns;
  TableOptions options;

  int time_index() const;                        // -1: none (invalid schema)
  int find(std::string_view column) const;       // case-insensitive; -1 when absent
  std::vector<int> tag_indexes() const;          // in column order
  std::vector<int> field_indexes() const;        // in column order
  bool operator==(const Schema&) const = default;
};

// Lower-cases `name` into *out when it is a valid table or column name; else false.
bool normalize_name(std::string_view name, std::string* out);
// "" when valid, else what is wrong ("table name '9x' must start with a letter or '_'",
// "table 't' must have exactly one TIME column (it has 0)", "column 'a' appears twice in table 't'", "table 't' has no field column").
std::string validate(const Schema& s);

// The schema as bytes (the DDL record of the WAL, the manifest) and back; false when
// malformed.
void encode_schema(const Schema& s, std::string& out);
bool decode_schema(std::string_view& in, Schema& s);

// "1d", "6h", "30m", "10s", "500ms", "2w" and plain seconds ("3600") as nanoseconds; nullopt
// when unreadable or not positive.
std::optional<int64_t> parse_duration(std::string_view text);
std::string format_duration(int64_t ns);

}  // namespace mqbase::store::tables
