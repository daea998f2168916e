// expr: bound scalar expressions and their vectorized evaluation (docs/sql.md#functions).
// The binder (engine.cpp) turns libpg_query's parse tree into Expr trees whose types are
// known and whose operators are resolved to a kernel; eval() runs a tree over a whole Chunk.
//
// Errors (a bad cast, division by zero, an unknown function) are thrown as QueryError with
// PostgreSQL's words and the position in the query.
//
// Thread-safety: an Expr is immutable once bound; eval() may run on any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "query/value.h"

namespace mqbase::query {

struct QueryError : std::runtime_error {
  QueryError(const std::string& message, int location = -1) : std::runtime_error(message), location(location) {}
  int location;  // 0-based byte offset into the query; -1: none
};

// PostgreSQL's check_stack_depth(): throws QueryError "stack depth limit exceeded" when less
// than a margin of this thread's stack is left. Called where binding and evaluation recurse
// (a level of the query each), so that a query nesting deeper than the stack allows fails
// instead of overflowing it; nesting.h's check before parsing keeps most such queries out.
void check_stack();

struct EvalContext {
  int64_t now_ns = 0;
  std::string tz = "UTC";
};

enum class ExprKind : uint8_t {
  constant,   // value
  column,     // column (index into the input chunk)
  call,       // scalar function or operator: fn, kernel, args
  and_,
  or_,
  not_,
  is_null,    // negate: IS NOT NULL
  in_list,    // args[0] IN (args[1..]); negate: NOT IN
  like,       // args[0] LIKE args[1]; negate: NOT LIKE; ci: ILIKE
  case_,      // args: [operand?] when, then, ..., [else]; has_operand, has_else
  cast,       // args[0] to type
  aggregate,  // only before aggregation is planned: fn, args (bound on the input), distinct
  window,     // only before the Window step is planned: fn OVER (...), see window_args
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// A kernel's arguments, each either a column of the input chunk read in place or a vector
// evaluated for the call (owned here): a column operand, the usual case, is not copied.
class Args {
 public:
  explicit Args(size_t n) {
    at_.reserve(n);
    owned_.reserve(n);  // never grows past n: the pointers into it stay valid
  }
  void borrow(const Vector& v) { at_.push_back(&v); }
  void own(Vector v) {
    owned_.push_back(std::move(v));
    at_.push_back(&owned_.back());
  }
  const Vector& operator[](size_t k) const { return *at_[k]; }
  size_t size() const { return at_.size(); }
  struct Iter {
    const Vector* const* p;
    const Vector& operator*() const { return **p; }
    Iter& operator++() { ++p; return *this; }
    bool operator!=(const Iter& o) const { return p != o.p; }
  };
  Iter begin() const { return {at_.data()}; }
  Iter end() const { return {at_.data() + at_.size()}; }

 private:
  std::vector<const Vector*> at_;
  std::vector<Vector> owned_;
};

using Kernel = void (*)(const Expr& e, const Args& args, size_t rows, Vector& out, const EvalContext& ctx);

struct Expr {
  ExprKind kind = ExprKind::constant;
  Type type = Type::null;
  Value value;                 // constant
  int column = -1;             // column
  std::string name;            // column: its name (for errors); call/aggregate: function name
  Kernel kernel = nullptr;     // call
  std::vector<ExprPtr> args;
  bool negate = false, ci = false, has_operand = false, has_else = false, distinct = false;
  bool star = false;           // count(*)
  bool untyped = false;        // a string literal whose type the context decides ('1 hour')
  int location = -1;
  // aggregate: the FILTER (WHERE ...) clause, bound on the input; WITHIN GROUP's ORDER BY
  // column is args.back() for percentile_cont.
  ExprPtr filter;
  // window: args holds the function's `window_args` arguments, then `window_partitions`
  // PARTITION BY keys, then the ORDER BY keys, whose directions are in window_order (one
  // SortFlags per key). Kept in args so that clone, same and the aggregate rewrite see them.
  int window_args = 0, window_partitions = 0;
  std::vector<uint8_t> window_order;  // bit 0: DESC, bit 1: NULLS FIRST
  // The frame: PostgreSQL's frameOptions bits (0: the default frame) and the ROWS offsets.
  uint32_t window_frame = 0;
  int64_t frame_start = 0, frame_end = 0;

  ExprPtr clone() const;
  bool same(const Expr& o) const;  // structurally equal (same meaning), ignoring locations
  bool has_columns() const;
  bool has_aggregates() const;
  bool has_windows() const;
};

// Calls f(c) for every column reference c in e, its arguments' and FILTER's included.
template <class F>
void for_each_column(const Expr& e, F&& f) {
  if (e.kind == ExprKind::column) f(e);
  for (auto& a : e.args) for_each_column(*a, f);
  if (e.filter) for_each_column(*e.filter, f);
}

// Sets read[c] for every column c that e reads (a column past read's end is left out).
inline void mark_columns(const Expr& e, std::vector<bool>& read) {
  for_each_column(e, [&](const Expr& c) {
    if (c.column >= 0 && static_cast<size_t>(c.column) < read.size()) read[static_cast<size_t>(c.column)] = true;
  });
}

// Evaluates `e` over `in` (in.rows rows). Constant subtrees give constant vectors.
Vector eval(const Expr& e, const Chunk& in, const EvalContext& ctx);
// e over `in` without a copy when e is a column of it (then the result is that column);
// else evaluated into `tmp`, which the result then is.
const Vector& eval_ref(const Expr& e, const Chunk& in, const EvalContext& ctx, Vector& tmp);
// A boolean vector as a selection: rows where it is true (NULL and false drop the row).
void select_true(const Vector& v, size_t rows, std::vector<uint32_t>& sel);
// The rows of `in` where `e` is true, when e is a double column compared with a constant that is
// not NaN (`velocity > 1`): straight into the selection, without the boolean column. False
// (sel untouched): not that case.
bool select_compare(const Expr& e, const Chunk& in, const EvalContext& ctx, std::vector<uint32_t>& sel);
// Keeps rows `sel` (ascending, each at most once) of every column of `c`, in place.
void take_rows(Chunk& c, const std::vector<uint32_t>& sel);
void take_rows(Vector& v, const std::vector<uint32_t>& sel);

// Constructors the binder uses. Each resolves types and kernels, inserting casts, or throws
// QueryError (e.g. 'operator does not exist: text + bigint').
ExprPtr make_constant(Value v, int location = -1);
ExprPtr make_column(int index, Type type, std::string name, int location = -1);
ExprPtr make_cast(ExprPtr e, Type to, int location = -1);
// make_cast with errors at the operand's own position (read before the operand is moved, which
// make_cast(std::move(e), to, e->location) would not promise: argument order is unspecified).
ExprPtr cast_operand(ExprPtr e, Type to);
ExprPtr make_operator(std::string_view op, ExprPtr l, ExprPtr r, int location);
ExprPtr make_unary(std::string_view op, ExprPtr e, int location);
ExprPtr make_function(std::string_view name, std::vector<ExprPtr> args, int location);
bool is_aggregate_name(std::string_view name);
// A string literal of unknown type ('...') takes the type the context wants: `to`.
Value cast_value(const Value& v, Type to, int location);

// Time helpers (also used by the planner).
// '5 minutes', '1 hour 30 minutes', '01:30:00', '2 days', '1.5 h', '100 ms'. Months and years
// are rejected (not a fixed length).
bool parse_interval(std::string_view text, int64_t* ns, std::string* error);
// '2024-01-01', '2024-01-01 12:00:00.5', '2024-01-01T12:00:00Z', '... +09', '... -05:30';
// without an offset, in time zone `tz`.
bool parse_timestamp(std::string_view text, std::string_view tz, int64_t* ns, std::string* error);
std::string format_timestamp(int64_t ns);       // '2024-01-01 12:00:00.5+00' (UTC)
std::string format_interval(int64_t ns);        // '01:30:00', '2 days 01:00:00'
std::string format_double(double d);            // shortest round trip, 'NaN', 'Infinity'
// The UTC offset of instant `ns` in `tz` (UTC, a fixed offset, an IANA name).
int64_t tz_offset(std::string_view tz, int64_t ns, int location);
// date_trunc(unit, ns) in `tz`.
int64_t date_trunc(std::string_view unit, int64_t ns, std::string_view tz, int location);
// time_bucket(width, ns) with TimescaleDB's default origin (2000-01-03, a Monday).
int64_t time_bucket(int64_t width, int64_t ns, int64_t origin);
constexpr int64_t kBucketOrigin = 946'857'600LL * 1'000'000'000LL;

}  // namespace mqbase::query
