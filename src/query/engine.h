// engine: SQL over the tables (docs/sql.md). A statement is parsed by libpg_query (PostgreSQL
// 15's own grammar), bound against the tables' schemas, planned (time ranges and tag filters
// pushed into Tables::scan) and executed as a pipeline of vectorized operators whose output
// streams to a ResultSink chunk by chunk: a large result is never held whole (only ORDER BY,
// GROUP BY and DISTINCT ON hold what they must, within the memory limit).
//
// Errors use PostgreSQL's words where it has them ('column "x" does not exist', 'syntax
// error at or near "FORM"') and name the position in the query (1-based character, as psql
// shows it).
//
// Thread-safety: one Engine serves any number of threads at once; each execute() runs on the
// calling thread (http and the MQTT db/query handler call it from their query pool, never
// from an MQTT event loop).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "query/value.h"

namespace mqbase::store::tables {
class Tables;
enum class ColumnType : uint8_t;
}

namespace mqbase::query {

// Where a query's rows go. begin() once with the columns, then rows() per chunk (flat vectors:
// no constants), then the engine returns. rows() returning false stops the query (the client
// went away, or it has all it wants); execute() then reports success with what was sent.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void begin(const std::vector<ColumnInfo>& columns) = 0;
  virtual bool rows(const Chunk& chunk) = 0;
};

// Read-only views over the broker (mqtt_clients, mqtt_subscriptions, mqtt_retained,
// mqtt_sessions): the broker's side fills a snapshot when a query names one.
class SystemViews {
 public:
  virtual ~SystemViews() = default;
  // False when `name` is not a view; else its columns and all its rows.
  virtual bool snapshot(std::string_view name, std::vector<ColumnInfo>& columns, Chunk& rows) = 0;
  virtual std::vector<std::string> names() const = 0;
};

struct QueryOptions {
  std::vector<Value> params;                 // $1, $2, ...
  int64_t now_ns = 0;                        // now(); 0: the wall clock when the query starts
  std::string tz = "UTC";                    // session time zone: date_trunc, timestamp literals
  std::chrono::milliseconds timeout{30000};  // 0: none
  uint64_t memory_limit = 256ull << 20;      // bytes held by sorts, groups and subqueries; 0: none
  const std::atomic<bool>* cancel = nullptr; // set by the caller to stop a query
};

struct QueryStatus {
  bool ok = true;
  std::string error;       // PostgreSQL's words: 'relation "x" does not exist'
  int position = 0;        // 1-based character of the query the error is about; 0: none
  std::string tag;         // what ran: "SELECT 3", "CREATE TABLE", "INSERT 0 2", "DROP TABLE"
  uint64_t rows = 0;       // rows sent to the sink, or rows inserted / deleted
  bool has_rows = false;   // the statement returns rows (begin() was called)
  // "error" or "error at character N" (the form answers carry).
  std::string describe() const;
};

// The type a table column's values have in a query: TIME timestamp, TAG and VARCHAR text, ...
Type query_type(store::tables::ColumnType t);

// Asks glibc to keep up to 128 MiB of freed memory at the top of each heap instead of giving it
// back to the kernel at once (its default: 128 KiB, raised only by large mmap'd frees). A query
// allocates and frees its vectors chunk after chunk and materializes CTEs and window partitions;
// with the default, every query touched those pages afresh, and faulting them in was up to half
// of a 10 M-row TSBS query's time (docs/benchmarks.md). Call once at the start of a process
// that runs queries (mqbase serve, the SQL benchmarks). A GLIBC_TUNABLES or MALLOC_TRIM_THRESHOLD_
// in the environment is left to rule. malloc_trim() (after recovery, after a checkpoint) still
// gives everything free back.
void keep_freed_memory();

class Engine {
 public:
  // `tables` and `views` (either may be null) outlive the engine.
  Engine(store::tables::Tables* tables, SystemViews* views);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs one statement (a trailing ';' is fine; several statements are an error).
  QueryStatus execute(std::string_view sql, const QueryOptions& options, ResultSink& sink);

  // Statements whose parse trees are kept: a statement sent again is not parsed again. Only
  // statements that parse, of at most 256 KiB with their tree, 4 MiB in all (least recently
  // used out first).
  size_t cached_parses() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqbase::query
