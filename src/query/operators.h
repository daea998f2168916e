// operators: the executor's pipeline (docs/sql.md#how-a-query-runs). Push-based, like
// HyPer's and DuckDB's pipelines: a source (a table scan, a materialized subquery, one empty
// row) pushes Chunks into a chain of operators; filters and projections work on whole
// vectors; aggregation, sorting and DISTINCT are pipeline breakers that hold what they must
// (charged against the query's memory limit) and push their result on finish().
//
// Thread-safety: a pipeline belongs to one query, on one thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "query/engine.h"
#include "query/expr.h"
#include "store/tables.h"

namespace mqbase::query {

// What every operator of one query shares: the clock, limits, and whether to stop early.
struct ExecContext {
  EvalContext eval;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;
  uint64_t memory_limit = 0;
  uint64_t memory_used = 0;
  bool stop = false;          // a LIMIT has what it wants, or the sink declined more rows
  std::chrono::milliseconds timeout{0};

  // Throws QueryError when the query ran out of time or was cancelled.
  void check() const;
  // Counts bytes a breaker holds; throws QueryError past the memory limit.
  void charge(uint64_t bytes);
  // "query needs more than its memory limit of 256 MiB": the start of every memory-limit error.
  std::string over_memory_limit() const;
};

class Operator {
 public:
  virtual ~Operator() = default;
  virtual void push(Chunk& chunk) = 0;
  virtual void finish() = 0;
};
using OperatorPtr = std::unique_ptr<Operator>;

// Approximate bytes a chunk (a vector) holds.
uint64_t chunk_bytes(const Chunk& c);
uint64_t vector_bytes(const Vector& v);
// Compares two non-NULL cells of the same type as PostgreSQL orders them (NaN above every
// number, text by bytes): -1, 0 or 1.
int compare_cell(const Vector& a, size_t ra, const Vector& b, size_t rb);
// An empty chunk with the columns' types of `c`.
Chunk empty_like(const Chunk& c);

// `live` (per input column; empty: all): the columns read after the filter. The others, read
// by the predicate alone, are not cut to the rows kept: they leave as Type::null constants.
OperatorPtr make_filter(const Expr* predicate, ExecContext& ctx, Operator* next, std::vector<bool> live = {});
OperatorPtr make_project(std::vector<const Expr*> exprs, ExecContext& ctx, Operator* next);
OperatorPtr make_limit(int64_t limit, int64_t offset, ExecContext& ctx, Operator* next);

struct SortKey {
  int column = 0;
  bool desc = false;
  bool nulls_first = false;
};
// `limit` >= 0: only the first `limit` rows are wanted (a top-N keeps no more).
OperatorPtr make_sort(std::vector<SortKey> keys, int64_t limit, ExecContext& ctx, Operator* next);
// Keeps the first row of each run of rows equal on `columns` (DISTINCT ON after a sort).
OperatorPtr make_distinct_on(std::vector<int> columns, ExecContext& ctx, Operator* next);
// Keeps the first row of each distinct value of `columns` (SELECT DISTINCT).
OperatorPtr make_distinct(std::vector<int> columns, ExecContext& ctx, Operator* next);

struct AggSpec {
  std::string fn;             // count, sum, avg, min, max, first, last, stddev, ...
  const Expr* arg = nullptr;  // null: count(*)
  const Expr* arg2 = nullptr; // first/last: the time; percentile_cont: the fraction (constant)
  const Expr* filter = nullptr;
  bool distinct = false;
  Type type = Type::null;     // the result's
};
// Groups by `keys` and computes `aggs`; outputs the keys then the aggregates. With no keys
// there is exactly one output row, even for no input.
// `streaming`: the caller promises that the rows of a group arrive together, one group after
// another (a table scan's rows come series by series and in time order, so keys that hold
// every tag and otherwise only time buckets change once per group and never return). Each
// group is then put out as soon as the next begins: no table of groups, memory for one group,
// and the same rows in the same order as without it.
OperatorPtr make_aggregate(std::vector<const Expr*> keys, std::vector<AggSpec> aggs, ExecContext& ctx, Operator* next,
                           bool streaming = false);

// Aggregates from block statistics (Tables::scan's summary): when every group key is a tag and
// every aggregate is count, sum, avg, min or max of a plain field (or count(*)), a block that
// lies wholly in range adds its count/sum/min/max without being decoded.
struct SummarySpec {
  std::vector<int> key_tags;    // per group key: its position among the table's tags
  std::vector<int> agg_fields;  // per aggregate: its position among the table's fields; -1: count(*)
};
class SummaryConsumer {
 public:
  virtual ~SummaryConsumer() = default;
  // False: the statistics cannot answer (NaNs, an overflowed sum): decode the block instead.
  virtual bool absorb(const std::vector<std::string>& tags, const store::tables::BlockMeta& meta) = 0;
};
OperatorPtr make_summary_aggregate(std::vector<const Expr*> keys, std::vector<AggSpec> aggs, SummarySpec summary,
                                   ExecContext& ctx, Operator* next, SummaryConsumer** consumer);
Type aggregate_type(const std::string& fn, Type arg, int location);

// Window functions (window.cpp): fn(args) OVER (PARTITION BY partition ORDER BY order frame).
// The frame (first_value, last_value and the aggregates use it): rows from `start` to `end`,
// counted in rows (ROWS) or, in RANGE mode, with CURRENT ROW meaning the current row's first
// (start) or last (end) peer. The default: RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW.
struct WindowFrame {
  enum class Bound : uint8_t { unbounded, preceding, current, following };
  bool rows = false;
  Bound start = Bound::unbounded, end = Bound::current;
  int64_t start_offset = 0, end_offset = 0;  // n PRECEDING / FOLLOWING (ROWS only)
};
struct WindowSpec {
  std::string fn;                    // row_number, rank, dense_rank, lag, lead, first_value,
                                     // last_value, count, sum, avg, min, max
  std::vector<const Expr*> args;     // bound on the operator's input; count(*): none
  const Expr* filter = nullptr;      // an aggregate's FILTER (WHERE ...)
  std::vector<const Expr*> partition, order;
  std::vector<SortKey> order_keys;   // per ORDER BY key: desc, nulls_first (column unused)
  WindowFrame frame;
  Type type = Type::null;            // the result's
};
// Holds every row, then passes them on with one more column per spec (in `specs` order),
// sorted by the last OVER clause's keys.
OperatorPtr make_window(std::vector<WindowSpec> specs, ExecContext& ctx, Operator* next);

// Gap filling after GROUP BY time_bucket_gapfill(...), in two steps around the projection.
// make_gapfill runs on the aggregate's output (keys, then aggregates): per group of the other
// keys, it adds the buckets of width `width` in [start, finish) that the group lacks, with
// NULL aggregates, and passes each group's rows in bucket order, with two more columns: the
// group's number (bigint) and whether the row was added (boolean). With no other key and no
// rows, it adds every bucket of one group.
struct GapfillSpec {
  int bucket = -1;
  int64_t width = 0, start = 0, finish = 0, origin = kBucketOrigin;
  std::vector<int> groups;
  std::vector<Type> types;  // of the aggregate's output columns
};
OperatorPtr make_gapfill(GapfillSpec spec, ExecContext& ctx, Operator* next);
// make_fill runs after the projection: in added rows, `locf` columns take the value of the
// group's previous real row and `interpolate` columns the linear interpolation, by `time`,
// between the group's real rows before and after with a value.
struct FillSpec {
  int group = -1, added = -1, time = -1;  // projection columns
  std::vector<int> locf, interpolate;
};
OperatorPtr make_fill(FillSpec spec, ExecContext& ctx, Operator* next);

// Collects everything (a subquery, a CTE) in memory, charged to the limit.
class Collector : public Operator {
 public:
  explicit Collector(ExecContext& ctx) : ctx_(ctx) {}
  void push(Chunk& chunk) override;
  void finish() override {}
  std::vector<Chunk> chunks;
 private:
  ExecContext& ctx_;
};

// The last operator: drops hidden columns (ORDER BY keys not selected), expands constants,
// hands chunks to the sink.
class SinkOperator : public Operator {
 public:
  SinkOperator(ResultSink& sink, size_t visible, ExecContext& ctx) : sink_(sink), visible_(visible), ctx_(ctx) {}
  void push(Chunk& chunk) override;
  void finish() override {}
  uint64_t rows = 0;
 private:
  ResultSink& sink_;
  size_t visible_;
  ExecContext& ctx_;
};

// A chunk of rows [from, from + n) of `c`.
Chunk slice(const Chunk& c, size_t from, size_t n);
Vector slice(const Vector& v, size_t b, size_t e);  // rows [b, e) (a constant stays one)
// Copies row `r` of `from` onto the end of `to` (same types).
void append_row(Vector& to, const Vector& from, size_t r);
// Appends rows [lo, hi) of `from` (of to's type, not constant) to `to`, moving its strings out:
// for an operator's last use of rows it held.
void append_rows_moving(Vector& to, Vector& from, size_t lo, size_t hi);

}  // namespace mqbase::query
