// value: the data a query works on (docs/sql.md#types). A Vector is one column of up to
// kChunkRows rows; a Chunk is the columns of a batch of rows. Operators pass Chunks, so
// expressions and aggregates run over whole columns, not row by row (vectorized execution).
//
// Types, as PostgreSQL names them in a result (type_name):
//   boolean, bigint, double precision, text, timestamp with time zone (ns since the epoch),
//   interval (ns), json (kept as text). Type::null is the type of a bare NULL literal.
//
// Thread-safety: plain values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mqbase::query {

constexpr size_t kChunkRows = 2048;

enum class Type : uint8_t { null, boolean, int64, float64, text, timestamp, interval, json };

// "boolean", "bigint", "double precision", "text", "timestamptz", "interval", "json", "unknown".
std::string_view type_name(Type t);
// What a table column's type is called in machbase-neo's JSON answers ("types"):
// "boolean", "int64", "double", "string", "datetime", "interval", "json", "unknown".
std::string_view neo_type_name(Type t);
inline bool uses_ints(Type t) {
  return t == Type::boolean || t == Type::int64 || t == Type::timestamp || t == Type::interval;
}
inline bool uses_strings(Type t) { return t == Type::text || t == Type::json; }
inline bool is_numeric(Type t) { return t == Type::int64 || t == Type::float64; }

// One value (constants, bind parameters, group keys).
struct Value {
  Type type = Type::null;
  bool null = true;
  int64_t i = 0;      // boolean (0/1), int64, timestamp, interval
  double f = 0;       // float64
  std::string s;      // text, json

  static Value make_null(Type t = Type::null) { Value v; v.type = t; return v; }
  static Value of_bool(bool b) { Value v; v.type = Type::boolean; v.null = false; v.i = b; return v; }
  static Value of_int(int64_t x) { Value v; v.type = Type::int64; v.null = false; v.i = x; return v; }
  static Value of_float(double x) { Value v; v.type = Type::float64; v.null = false; v.f = x; return v; }
  static Value of_text(std::string_view x, Type t = Type::text) {
    Value v; v.type = t; v.null = false; v.s = x; return v;
  }
  static Value of_time(int64_t ns) { Value v; v.type = Type::timestamp; v.null = false; v.i = ns; return v; }
  static Value of_interval(int64_t ns) { Value v; v.type = Type::interval; v.null = false; v.i = ns; return v; }
  bool operator==(const Value&) const = default;
};

// One column of a chunk. Exactly one value vector is used, by type: ints (uses_ints), f
// (float64) or s (uses_strings); Type::null uses none. `valid` is empty when every row is
// non-NULL, else one byte per row (0: NULL; the value vector still has an entry). A constant
// vector holds one value that stands for all `size` rows (a table's tag within one series, a
// literal); the engine expands constants before a ResultSink sees a chunk.
struct Vector {
  Type type = Type::null;
  bool constant = false;
  size_t size = 0;
  std::vector<uint8_t> valid;
  std::vector<int64_t> i;
  std::vector<double> f;
  std::vector<std::string> s;

  size_t at(size_t row) const { return constant ? 0 : row; }
  bool is_null(size_t row) const {
    return type == Type::null || (!valid.empty() && !valid[at(row)]);
  }
  Value get(size_t row) const;          // row's value (a copy)
  void push(const Value& v);            // appends (v's type must match, or be NULL)
  void push_null();
  void clear(Type t);                   // empty, of type t
  void reserve(size_t n);
  void expand();                        // a constant becomes `size` copies
  static Vector make_constant(const Value& v, size_t rows);
};

// Spare value buffers, per thread. A kernel's output vector is new for every chunk, and sizing
// a new std::vector zero-fills it, only for the kernel to write every row again (a tenth of a
// GROUP BY time_bucket(...) query's instructions were that memset). An operator done with the
// values it computed recycles them; the next kernel output takes a spare buffer, whose old
// contents stand in for the zeros.
void recycle(Vector& v);  // v's int and double buffers become spares (v is left empty of them)
// `out` (empty) sized to n, on a spare buffer when there is one: its values are NOT zero;
// the caller writes all n.
void sized_for_writing(std::vector<int64_t>& out, size_t n);
void sized_for_writing(std::vector<double>& out, size_t n);

struct Chunk {
  std::vector<Vector> columns;
  size_t rows = 0;
};

struct ColumnInfo {
  std::string name;
  Type type = Type::null;
};

}  // namespace mqbase::query
